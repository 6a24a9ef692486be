"""The operator console: one web page over both services' operator endpoints and
the broker's dead-letter queues (``python -m ops_tools.console``)."""
