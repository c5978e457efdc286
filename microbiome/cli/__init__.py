"""Command-line interface: one module per subcommand; ``main.main(argv)`` is the error boundary."""
