"""The `agentflow` command line.

    agentflow serve                      run the HTTP API (embedded Ray, or RAY_ADDRESS)
    agentflow simulator [...]            run the simulated OpenAI-compatible provider
    agentflow submit FILE --operation label --categories a,b [--wait] [--output results.csv]
    agentflow status ID | cancel ID | output ID --format csv [--output FILE]
    agentflow run-batch -i requests.jsonl -o results.jsonl [--errors errors.jsonl]
                                         run an OpenAI Batch API file locally (resumes with the same -o)
    agentflow bench [...]                run benchmarks/throughput.py

submit/status/cancel/output talk to a running service over HTTP (`--url`,
default $AGENTFLOW_URL or http://127.0.0.1:8000; `--api-key`, default
$AGENTFLOW_API_KEY). A failure prints one line on stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from serve_app.run_batch import add_run_batch

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
REPO_ROOT = Path(__file__).resolve().parent.parent
DELEGATING = ("simulator", "bench")  # their remaining arguments belong to another parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in DELEGATING:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.run(args, rest) or 0
    except KeyboardInterrupt:
        print("agentflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
        print(f"agentflow: error: {describe(exc)}", file=sys.stderr)
        return EXIT_ERROR


def describe(exc: BaseException) -> str:
    """An exception as one line: the engine's errors with their type and field."""
    from engine.errors import AgentFlowError

    if isinstance(exc, AgentFlowError):
        field = getattr(exc, "field", None)
        return f"{exc.message} [{exc.code}{f', field {field}' if field else ''}]"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    if isinstance(exc, (ValueError, TimeoutError)) and str(exc):  # ours: the message says it all
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# ---- the parser -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentflow", description="Batch LLM operations on Ray.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP API (embedded Ray, or RAY_ADDRESS)",
                                description="Start Ray (or join RAY_ADDRESS) and serve the API on "
                                "AGENTFLOW_HOST:AGENTFLOW_PORT. Without a provider key, the built-in "
                                "simulator answers in place of a real LLM.")
    serve.set_defaults(run=run_serve)
    simulator = commands.add_parser("simulator", help="run the simulated OpenAI-compatible provider",
                                    add_help=False)  # `agentflow simulator --help` is the simulator's own
    simulator.set_defaults(run=run_simulator)
    add_submit(commands)
    add_batch_commands(commands)
    add_run_batch(commands)
    bench = commands.add_parser("bench", help="run the throughput benchmark (benchmarks/throughput.py)",
                                description="Run benchmarks/throughput.py from a source checkout; the "
                                "arguments after `bench` go to it (its own help: agentflow bench -- --help).")
    bench.set_defaults(run=run_bench)
    return parser


def connection_options() -> argparse.ArgumentParser:
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--url", default=os.environ.get("AGENTFLOW_URL") or "http://127.0.0.1:8000",
                        help="the service's base URL (default: $AGENTFLOW_URL or http://127.0.0.1:8000)")
    shared.add_argument("--api-key", default=os.environ.get("AGENTFLOW_API_KEY"),
                        help="bearer API key (default: $AGENTFLOW_API_KEY)")
    return shared


def add_submit(commands) -> None:
    submit = commands.add_parser(
        "submit", parents=[connection_options()], help="upload a file as an async batch",
        description="Upload FILE (CSV, JSON, JSONL, text, Parquet) to POST /api/files as a batch of one "
        "operation. Prints the batch's status as JSON; with --wait, follows it with a progress bar on "
        "stderr and prints the final status; with --output, also writes every result to that file.")
    submit.add_argument("file", help="the input file; each row becomes an item")
    submit.add_argument("--operation", required=True,
                        help="classify (= label), label, summarize, extract, enrich or run")
    submit.add_argument("--categories", help="label: the categories, comma-separated (or a JSON list)")
    submit.add_argument("--multi-label", action="store_true", default=None, help="label: any number of categories")
    submit.add_argument("--model", help="provider/model, e.g. openai/gpt-4.1-mini")
    submit.add_argument("--temperature", type=float)
    submit.add_argument("--max-tokens", type=int)
    submit.add_argument("--system-prompt")
    submit.add_argument("--user-prompt-template", help="e.g. 'Review of {product}: {content}'")
    submit.add_argument("--summary-instructions", help="summarize: what the summary must say")
    submit.add_argument("--extraction-instructions", help="extract: e.g. 'Extract: name, company'")
    submit.add_argument("--fields", help="enrich: the fields, as a JSON list")
    submit.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="any other parameter (VALUE is read as JSON when it parses); repeatable")
    submit.add_argument("--content-column", help="the column holding the text (default: content)")
    submit.add_argument("--id-column", help="the column holding each item's id")
    submit.add_argument("--metadata-columns", help="columns passed as metadata, comma-separated (default: the rest)")
    submit.add_argument("--format", dest="input_format", help="the file's format when its extension does not say")
    submit.add_argument("--idempotency-key", help="a retry with the same key returns the first batch")
    submit.add_argument("--wait", action="store_true", help="wait for the batch to finish, with a progress bar")
    submit.add_argument("--no-progress", action="store_true", help="with --wait: no progress bar")
    submit.add_argument("--timeout", type=float, help="with --wait: give up after this many seconds")
    submit.add_argument("--output", help="write the results here (.csv, .jsonl or .json); implies --wait")
    submit.set_defaults(run=run_submit)


def add_batch_commands(commands) -> None:
    shared = connection_options()
    status = commands.add_parser("status", parents=[shared], help="print a batch's status and progress",
                                 description="Print GET /api/batches/ID as JSON.")
    status.add_argument("batch_id")
    status.set_defaults(run=run_status)
    cancel = commands.add_parser("cancel", parents=[shared], help="cancel a batch (completed work is kept)",
                                 description="POST /api/batches/ID/cancel and print the status as JSON.")
    cancel.add_argument("batch_id")
    cancel.set_defaults(run=run_cancel)
    output = commands.add_parser("output", parents=[shared], help="download a batch's results",
                                 description="Every item's record in item order (partial while the batch "
                                 "runs), to stdout or --output.")
    output.add_argument("batch_id")
    output.add_argument("--format", choices=("csv", "jsonl", "json"),
                        help="default: from --output's extension, else csv")
    output.add_argument("--output", help="write to this file instead of stdout")
    output.set_defaults(run=run_output)


# ---- the commands -----------------------------------------------------------------


def run_serve(args, rest) -> int:
    from engine.config import Settings
    from serve_app.deployment import serve_forever

    serve_forever(Settings.from_env())
    return 0


def run_simulator(args, rest) -> int:
    from engine.sim.simulator import main as simulator_main

    simulator_main(rest)
    return 0


def client_of(args):
    from engine.sdk.http_client import HTTPClient

    return HTTPClient(args.url, api_key=args.api_key)


def submit_params(args) -> dict:
    """The operation's parameters and loader options given on the command line."""
    params = {
        "categories": list_value(args.categories), "multi_label": args.multi_label, "model": args.model,
        "temperature": args.temperature, "max_tokens": args.max_tokens, "system_prompt": args.system_prompt,
        "user_prompt_template": args.user_prompt_template, "summary_instructions": args.summary_instructions,
        "extraction_instructions": args.extraction_instructions, "fields": json_value("--fields", args.fields),
        "content_column": args.content_column, "id_column": args.id_column,
        "metadata_columns": list_value(args.metadata_columns), "format": args.input_format,
    }
    for pair in args.param:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--param takes NAME=VALUE, got {pair!r}")
        params[name.strip().replace("-", "_")] = loose_json(value)
    return {name: value for name, value in params.items() if value is not None}


def list_value(raw: str | None) -> list | None:
    if raw is None:
        return None
    if raw.lstrip().startswith("["):
        return json_value("the list", raw)
    return [part.strip() for part in raw.split(",") if part.strip()]


def json_value(option: str, raw: str | None):
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{option} is not valid JSON: {exc}") from None


def loose_json(raw: str):
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def run_submit(args, rest) -> int:
    from engine.sdk.handles import file_format

    if not Path(args.file).is_file():
        raise FileNotFoundError(2, "no such file", args.file)
    if args.output:
        file_format(args.output)  # before the batch runs, not after
    params = submit_params(args)
    with client_of(args) as client:
        batch = client.submit(Path(args.file), args.operation, idempotency_key=args.idempotency_key, **params)
        if not (args.wait or args.output):
            print_json(batch.status())
            return 0
        print(f"agentflow: submitted {batch.id}", file=sys.stderr)
        try:
            final = batch.wait(progress=not args.no_progress, timeout=args.timeout)
        except KeyboardInterrupt:
            print(f"agentflow: interrupted; batch {batch.id} goes on in the service "
                  f"(agentflow status {batch.id}, agentflow cancel {batch.id})", file=sys.stderr)
            return EXIT_INTERRUPTED
        if args.output:
            path = batch.to_file(args.output)
            print(f"agentflow: wrote {final['total_items']} items to {path}", file=sys.stderr)
        print_json(final)
        return 0 if final["status"] == "completed" else EXIT_ERROR


def run_status(args, rest) -> int:
    with client_of(args) as client:
        print_json(client.batch(args.batch_id).status())
    return 0


def run_cancel(args, rest) -> int:
    with client_of(args) as client:
        print_json(client.batch(args.batch_id).cancel())
    return 0


def run_output(args, rest) -> int:
    from engine.sdk.handles import file_format

    fmt = args.format or (file_format(args.output) if args.output else "csv")
    with client_of(args) as client:
        batch = client.batch(args.batch_id)
        batch.status()  # a 404 before any file is created
        if args.output:
            with open(args.output, "wb") as handle:
                for chunk in batch.export(fmt):
                    handle.write(chunk)
            return 0
        for chunk in batch.export(fmt):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    return 0


def run_bench(args, rest) -> int:
    # Run as a script, not imported: the benchmarks are a harness of the checkout, not part of the product.
    script = REPO_ROOT / "benchmarks" / "throughput.py"
    if not script.is_file():
        print(f"agentflow: error: the benchmark is not here: {script} is missing "
              "(agentflow bench runs from a source checkout)", file=sys.stderr)
        return EXIT_ERROR
    arguments = rest[1:] if rest[:1] == ["--"] else rest
    return subprocess.run([sys.executable, str(script), *arguments], cwd=REPO_ROOT).returncode


def print_json(value) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
