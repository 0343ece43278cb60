"""The stack's building blocks, one ``ComponentResource`` per concern, each with its ``Args``."""
