"""``python -m seed``: the ``bionicpro seed`` command on its own."""

import typer

from seed.cli import seed_command

if __name__ == "__main__":
    typer.run(seed_command)
