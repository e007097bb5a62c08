"""`agentflow run-batch -i requests.jsonl -o results.jsonl [--errors errors.jsonl]`.

Runs an OpenAI-format batch file locally on embedded Ray (or RAY_ADDRESS), like
vLLM's `run_batch`, on the same machinery as the service. Its state lives
beside the output, in `<output>.agentflow/`, under a batch id made from the
output's path: run again with the same `-o` and an interrupted run resumes
(the lines already answered are not sent again). The output is written once
the batch has ended, through a temporary file renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

from engine.models import FINISHED_STATES

POLL_SECONDS = 0.5
OWNER = "anonymous"  # as the driver and the API without keys: the batch is visible to `agentflow serve` too


def add_run_batch(commands) -> None:
    command = commands.add_parser(
        "run-batch", help="run an OpenAI Batch API file locally (like vLLM's run_batch)",
        description="Run a JSONL file of OpenAI batch requests ({custom_id, method, url, body} per line) on "
        "embedded Ray, with a progress bar on stderr. Run it again with the same --output to resume.")
    command.add_argument("-i", "--input", required=True, help="the requests file (JSONL)")
    command.add_argument("-o", "--output", required=True, help="where the results go (JSONL, one line per request)")
    command.add_argument("--errors", help="write failed requests here instead of into --output")
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    command.set_defaults(run=run)


def state_of(output: Path) -> tuple[Path, str]:
    """The store directory and batch id of an output path (the same on every run)."""
    output = output.resolve()
    digest = hashlib.blake2b(str(output).encode(), digest_size=12).hexdigest()
    return output.with_name(output.name + ".agentflow"), f"batch_run{digest}"


def run(args, rest) -> int:
    from engine.config import Settings

    source, output = Path(args.input), Path(args.output)
    if not source.is_file():
        raise FileNotFoundError(2, "no such file", args.input)
    store, batch_id = state_of(output)
    settings = Settings.from_env({**os.environ, "AGENTFLOW_STORE": str(store)})
    from engine.ray.driver import connect

    with connect(settings=settings) as client:
        from engine.batch.openai_batches import OpenAIBatches
        from engine.store.uploaded_files import UploadedFiles

        openai = OpenAIBatches(client.batches, UploadedFiles(store, settings.retention_days))
        batch = start(openai, batch_id, source)
        if batch["status"] == "failed":
            for error in (batch["errors"] or {}).get("data", [])[:20]:
                print(f"agentflow: line {error['line']}: {error['message']}", file=sys.stderr)
            return 1
        try:
            batch = follow(openai, batch_id, progress=not args.no_progress)
        except KeyboardInterrupt:
            print(f"agentflow: interrupted; run the same command again to resume ({output})", file=sys.stderr)
            return 130
        write_results(openai, batch, output, Path(args.errors) if args.errors else None)
    counts = batch["request_counts"]
    print(f"agentflow: {counts['completed']} of {counts['total']} requests succeeded, {counts['failed']} failed; "
          f"wrote {output}", file=sys.stderr)
    return 0 if batch["status"] == "completed" and not counts["failed"] else 1


def start(openai, batch_id: str, source: Path) -> dict:
    """The batch of this output: resumed if it exists, else made from `source` (copied into the store)."""
    if openai.batches.store.exists(batch_id):
        meta = openai.meta(batch_id, OWNER)
        if meta["status"] not in FINISHED_STATES:
            print(f"agentflow: resuming {batch_id}", file=sys.stderr)
            openai.batches.runner.launch(batch_id)
        return openai.retrieve(batch_id, OWNER)
    copy = openai.files.incoming() / f"{batch_id}.jsonl"
    shutil.copyfile(source, copy)
    with open(copy, "rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    uploaded = openai.files.adopt(copy, OWNER, source.name, "batch", lines)
    batch = openai.create(batch_id, OWNER, {"input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions",
                                            "completion_window": "24h"})
    if batch["status"] != "failed":
        openai.batches.runner.launch(batch_id)
    return batch


def follow(openai, batch_id: str, progress: bool) -> dict:
    """Poll the store until the batch has ended, drawing a progress bar."""
    from engine.sdk.progress import ProgressBar

    batch = openai.retrieve(batch_id, OWNER)
    bar = ProgressBar(batch["request_counts"]["total"], label=batch_id) if progress else None
    while True:
        meta = openai.meta(batch_id, OWNER)
        if bar is not None:
            bar.update(meta.get("completed_items", 0) + meta.get("failed_items", 0) + meta.get("cancelled_items", 0))
        if meta["status"] in FINISHED_STATES:
            break
        time.sleep(POLL_SECONDS)
    if bar is not None:
        bar.close()
    return openai.retrieve(batch_id, OWNER)


def write_results(openai, batch: dict, output: Path, errors: Path | None) -> None:
    """The output lines (and the error lines: into `errors`, else into `output` too), each file made whole."""
    targets = [(output, [batch["output_file_id"]] + ([] if errors else [batch["error_file_id"]]))]
    if errors:
        targets.append((errors, [batch["error_file_id"]]))
    for path, file_ids in targets:
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as handle:
            for file_id in filter(None, file_ids):
                for chunk in openai.content(file_id, OWNER):
                    handle.write(chunk)
        os.replace(tmp, path)
