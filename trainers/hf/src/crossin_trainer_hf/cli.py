"""Entry point: `crossin-trainer-hf SPEC.json` (also `python -m crossin_trainer_hf`).

Exit status: 0 done (manifest written), 2 bad spec or input, 3 no GPU or out
of memory, 1 anything else. A failure prints one line on stderr and never
leaves a manifest; details go to trainer.log.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import traceback

from . import manifest, spec
from .errors import JobError

PROG = "crossin-trainer-hf"


def _logger(output_dir):
    path = os.path.join(output_dir, "trainer.log")
    attempt = 1
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            attempt = 1 + sum(1 for line in f if line.startswith("== attempt "))
    f = open(path, "a", buffering=1)
    f.write(f"== attempt {attempt} at {datetime.datetime.now(datetime.timezone.utc).isoformat()}\n")

    def log(msg):
        f.write(msg + "\n")

    return log, f


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--inputs-digest":
        # Reads the job's inputs exactly as a run would and prints their
        # digest (no torch needed): the parity check against crossin's Go side.
        try:
            job = spec.read(argv[1])
            from . import data

            mode = job.eval.mode if job.eval else "generate"
            print(json.dumps(data.inputs_digest(job.kind, job.data, mode), sort_keys=True))
            return 0
        except JobError as e:
            print(f"{PROG}: {e}", file=sys.stderr)
            return e.exit_code
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(f"usage: {PROG} SPEC.json   (crossin trainer contract v2)\n"
              f"       {PROG} --inputs-digest SPEC.json", file=sys.stderr)
        return 2
    logf = None
    try:
        job = spec.read(argv[0])
        os.makedirs(job.output_dir, exist_ok=True)
        manifest.remove(job.output_dir)
        log, logf = _logger(job.output_dir)
        if job.kind == spec.KIND_TRAIN:
            from . import train as impl
        else:
            from . import evaluate as impl
        try:
            res = impl.run(job, log)
        except Exception as e:  # turn the stack's resource errors into one line
            name = type(e).__name__
            if name == "OutOfMemoryError":
                raise JobError("out of GPU memory: lower the trainer option micro_batch_tokens "
                               "(or eval batch_size), enable train.gradient_checkpointing, or use a larger GPU", 3) from e
            if isinstance(e, ImportError):
                raise JobError(f"the Python stack is incomplete ({e}); use the crossin HF trainer image", 3) from e
            raise
        from .runtime import versions

        manifest.write(job.output_dir, job.kind, versions(), res["files"], res["summary"])
        log("done")
        return 0
    except JobError as e:
        if logf:
            logf.write("error: " + str(e) + "\n" + traceback.format_exc())
        print(f"{PROG}: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:
        if logf:
            logf.write(traceback.format_exc())
        print(f"{PROG}: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    finally:
        if logf:
            logf.close()


if __name__ == "__main__":
    sys.exit(main())
