"""`python -m chatapp.tools`: the task tools over stdio, acting for the user
whose JWT is in `CHATAPP_TOKEN`."""

import sys

from pydantic import ValidationError

from chatapp.config import Settings, setting_errors
from chatapp.db import engine_from
from chatapp.tools.server import create_task_server


def main() -> None:
    """A setting that does not parse stops the server with its variable's
    name, as `make api` does: the MCP client that launched it shows stderr
    to a person, for whom a traceback says less."""
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"python -m chatapp.tools: {setting_errors(error)}", file=sys.stderr)
        raise SystemExit(2) from None
    create_task_server(engine_from(settings), settings).run("stdio")


if __name__ == "__main__":
    main()
