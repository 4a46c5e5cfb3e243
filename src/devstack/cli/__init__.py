"""The command line: argparse, one module per command; ``cli.main`` puts them together."""
