"""The `agentflow` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentflow", description="Batch LLM operations on Ray.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the HTTP API (embedded Ray, or RAY_ADDRESS)",
                        description="Start Ray (or join RAY_ADDRESS) and serve the API on "
                        "AGENTFLOW_HOST:AGENTFLOW_PORT. Without a provider key, the built-in "
                        "simulator answers in place of a real LLM.")
    commands.add_parser("simulator", help="run the simulated OpenAI-compatible provider",
                        add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "serve":
        from engine.config import Settings
        from serve_app.server import serve_forever

        serve_forever(Settings.from_env())
        return 0
    if args.command == "simulator":
        from engine.simulator import main as simulator_main

        simulator_main(rest)
        return 0
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
