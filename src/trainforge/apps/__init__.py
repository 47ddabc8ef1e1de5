"""Applications built on trainforge packages: complete programs a user runs as they are."""
