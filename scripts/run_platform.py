"""Run the whole platform locally: five services as separate processes until Ctrl-C.

Prepares what a first run needs (signing keys, a courier secret, the sample register, an
initial delivery of stock), starts a local SMTP server that keeps every email in
``.run/mail/`` (a maildir), starts each service with uvicorn, waits until every one is ready,
and prints the addresses. Ctrl-C (or SIGTERM) stops every process it started.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: ``scripts`` is then not importable yet
    sys.path.insert(0, str(ROOT))

from scripts.reachability import explain  # noqa: E402

PYTHON = sys.executable
SERVICES = {
    "identity": 8001,
    "orders": 8002,
    "verification": 8003,
    "dispatch": 8004,
    "reporting": 8005,
}
#: Where the services' databases live unless --postgres-url says otherwise.
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432"
#: The development SMTP server that keeps every email in a maildir under the state folder.
MAIL_PORT = 1025


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--state",
        type=Path,
        default=ROOT / ".run",
        help="folder for keys and run state (default .run/)",
    )
    parser.add_argument(
        "--port-offset", type=int, default=0, help="add this to every service's port"
    )
    parser.add_argument(
        "--db-suffix", default="", help="suffix for database names, to run beside another copy"
    )
    parser.add_argument(
        "--amqp-url", default=os.environ.get("CARE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CARE_POSTGRES_URL", POSTGRES_URL),
        help=f"the PostgreSQL server, without a database name (default {POSTGRES_URL})",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default="",
        help="a reverse proxy in front of the pages, whose X-Forwarded-For they believe "
        "(comma-separated addresses or networks; default: none, the pages are reached directly)",
    )
    parser.add_argument("--register", type=Path, default=ROOT / "data" / "cqc-register-sample.csv")
    parser.add_argument("--initial-stock", type=int, default=50_000)
    args = parser.parse_args()
    # Each step shows as it happens, in a terminal or through a pipe (tests read it).
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    env = prepare_environment(args)
    check_dependencies(env)
    prepare_data(args, env)
    processes = start_services(args, env)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        wait_until_ready(args, processes, env)
        print_addresses(args)
        while not stopping:
            for name, proc in processes.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping the platform")
                    return 1
            time.sleep(0.5)
    finally:
        shutdown(processes)
    return 0


def prepare_environment(args: argparse.Namespace) -> dict[str, str]:
    state: Path = args.state
    state.mkdir(parents=True, exist_ok=True)
    keys = state / "keys"
    if not (keys / "token-private.pem").exists():
        run([PYTHON, "-m", "services.identity.cli", "keys", "generate", "--out", str(keys)], {})
    secret_file = state / "courier-hmac-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32))
        secret_file.chmod(0o600)
    offset = args.port_offset
    env = {
        "CARE_AMQP_URL": args.amqp_url,
        "CARE_TOKEN_PUBLIC_KEY": (keys / "token-public.pem").read_text(),
        "CARE_IDENTITY_TOKEN_PRIVATE_KEY": (keys / "token-private.pem").read_text(),
        "CARE_DISPATCH_COURIER_HMAC_SECRET": secret_file.read_text().strip(),
        "CARE_EMAIL_BACKEND": "smtp",
        "CARE_EMAIL_SMTP_HOST": "127.0.0.1",
        "CARE_EMAIL_SMTP_PORT": str(MAIL_PORT + offset),
        # Emailed links point at the public site, which the orders service serves.
        "CARE_IDENTITY_PUBLIC_SITE_URL": f"http://127.0.0.1:{SERVICES['orders'] + offset}",
        # ... and the site signs people in through identity's API.
        "CARE_ORDERS_IDENTITY_URL": f"http://127.0.0.1:{SERVICES['identity'] + offset}",
        # The back office disables and anonymises accounts through identity's API.
        "CARE_VERIFICATION_IDENTITY_URL": f"http://127.0.0.1:{SERVICES['identity'] + offset}",
        # DHSC analysts and operations sign in to the MI page through identity's API.
        "CARE_REPORTING_IDENTITY_URL": f"http://127.0.0.1:{SERVICES['identity'] + offset}",
        # The pages, on this machine, forward each browser's address to identity's sign-in
        # limits; identity believes that header from them and no one else.
        "CARE_IDENTITY_TRUSTED_PROXIES": '["127.0.0.1"]',
    }
    postgres = getattr(args, "postgres_url", POSTGRES_URL).rstrip("/")
    for name in SERVICES:
        env[f"CARE_{name.upper()}_DATABASE_URL"] = f"{postgres}/care_{name}{args.db_suffix}"
    return env


def prepare_data(args: argparse.Namespace, env: dict[str, str]) -> None:
    # The sample loads only into an empty register: a restart must never replace an extract
    # an operator imported. A file named with --register is imported (refused if it would
    # deactivate more than 5% of the active register; the import command says how to confirm).
    sample = args.register.resolve() == (ROOT / "data" / "cqc-register-sample.csv").resolve()
    command = [PYTHON, "-m", "services.identity.cli", "register", "import", str(args.register)]
    if sample:
        print("==> loading the CQC register sample (only into an empty register)")
        command.append("--only-if-empty")
    else:
        print(f"==> importing the CQC register {args.register.name}")
    run(command, env, quiet=True)
    marker = args.state / f"stock-received{args.db_suffix}"
    if args.initial_stock and not marker.exists():
        print(f"==> receiving an initial {args.initial_stock} badges")
        run(
            [PYTHON, "-m", "services.dispatch.cli", "stock", "receive", str(args.initial_stock)],
            env,
            quiet=True,
        )
        marker.touch()


def start_services(
    args: argparse.Namespace, env: dict[str, str]
) -> dict[str, subprocess.Popen[bytes]]:
    logs = args.state / "logs"
    logs.mkdir(exist_ok=True)
    processes = {"mail": start_mail_server(args, env, logs)}
    for name in SERVICES:
        processes[name] = start_service(args, env, name)
        print(f"==> started {name} (pid {processes[name].pid}), logs in {logs / name}.log")
    return processes


def start_service(
    args: argparse.Namespace, env: dict[str, str], name: str
) -> subprocess.Popen[bytes]:
    """One service under uvicorn, appending to its log (the fault tests restart one alone)."""
    log = (args.state / "logs" / f"{name}.log").open("ab")
    return subprocess.Popen(
        uvicorn_command(name, SERVICES[name] + args.port_offset, args.forwarded_allow_ips),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


#: The services with pages, which forward the browser's address to identity's sign-in limits.
PAGES = ("orders", "verification", "reporting")


def uvicorn_command(name: str, port: int, forwarded_allow_ips: str = "") -> list[str]:
    """The command that serves one service on the loopback address.

    X-Forwarded-For is believed only from a configured proxy (issue 17, item 3). Nothing
    stands in front of the pages here unless ``--forwarded-allow-ips`` names a proxy, so by
    default uvicorn believes no one (its own default would believe any local process).
    Identity believes only its own list, CARE_IDENTITY_TRUSTED_PROXIES: the pages on 127.0.0.1.
    """
    command = [PYTHON, "-m", "uvicorn", f"services.{name}.app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    if name in PAGES and forwarded_allow_ips:
        return [*command, "--forwarded-allow-ips", forwarded_allow_ips]
    return [*command, "--no-proxy-headers"]


def start_mail_server(
    args: argparse.Namespace, env: dict[str, str], logs: Path
) -> subprocess.Popen[bytes]:
    """Development email: aiosmtpd's Mailbox handler writes each message into a maildir."""
    mail = args.state / "mail"
    log = (logs / "mail.log").open("ab")
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{MAIL_PORT + args.port_offset}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(mail),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    print(f"==> started a local SMTP server (pid {proc.pid}); emails land in {mail}")
    return proc


def _database_urls(env: Mapping[str, str]) -> dict[str, str]:
    return {n: env[f"CARE_{n.upper()}_DATABASE_URL"] for n in SERVICES}


def check_dependencies(env: Mapping[str, str]) -> None:
    """Stop at once, saying which and how, when the broker or the database does not answer:
    every later step would otherwise fail or wait on it with a vaguer message."""
    problems = explain(env["CARE_AMQP_URL"], _database_urls(env))
    if problems:
        raise SystemExit("cannot start the platform:\n  " + "\n  ".join(problems))


def wait_until_ready(
    args: argparse.Namespace,
    processes: dict[str, subprocess.Popen[bytes]],
    env: Mapping[str, str],
    timeout: float = 90.0,
) -> None:
    urls = {
        name: f"http://127.0.0.1:{port + args.port_offset}/readyz"
        for name, port in SERVICES.items()
    }
    try:
        wait_ready({name: processes[name] for name in SERVICES}, urls, timeout)
    except NotReady as late:
        problems = explain(env["CARE_AMQP_URL"], _database_urls(env))
        raise SystemExit("\n  ".join([str(late), *problems])) from late


class NotReady(SystemExit):
    """Services still not ready at the deadline; the message says what each last reported."""


def wait_ready(
    processes: Mapping[str, subprocess.Popen[bytes]], urls: Mapping[str, str], timeout: float
) -> None:
    """Until every process answers 200 on its ready URL; exits if one dies or time runs out,
    saying what each service that is not ready last answered (its failing checks)."""
    deadline = time.monotonic() + timeout
    pending = set(processes)
    last: dict[str, str] = {}
    while pending:
        if time.monotonic() > deadline:
            reasons = [
                f"{name}: {last.get(name, 'no answer on its port')}" for name in sorted(pending)
            ]
            raise NotReady(f"not ready after {timeout:.0f}s:\n  " + "\n  ".join(reasons))
        for name in sorted(pending):
            if processes[name].poll() is not None:
                raise SystemExit(f"{name} exited during start-up; see its log")
            status, body = _ready_answer(urls[name])
            if status == 200:
                pending.discard(name)
            elif status:
                last[name] = _failing_checks(body)
        time.sleep(0.3)


def _ready_answer(url: str) -> tuple[int, bytes]:
    """The status and body of one ready probe; (0, b"") when nothing answered."""
    try:
        # Only the loopback URLs built by the callers: no user input reaches here.
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def _failing_checks(body: bytes) -> str:
    """ "database: unreachable: ...; broker: ok" becomes "database: unreachable: ..."."""
    try:
        checks = json.loads(body).get("checks", {})
    except (ValueError, AttributeError):
        return "not ready"
    failing = [f"{check} {state}" for check, state in checks.items() if state != "ok"]
    return "; ".join(failing) or "not ready"


def print_addresses(args: argparse.Namespace) -> None:
    print("\nCARE badges platform is running (Ctrl-C stops it):")
    for name, port in SERVICES.items():
        print(f"  {name:<13} http://127.0.0.1:{port + args.port_offset}/docs")
    print(f"  {'emails':<13} {args.state / 'mail'} (a maildir: new/ holds each message)")
    print(flush=True)


def shutdown(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 35
    for proc in processes.values():
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
    print("==> every service stopped", flush=True)


def run(command: list[str], env: dict[str, str], quiet: bool = False) -> None:
    """Run one preparation step; one that has not finished in five minutes is stuck."""
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=quiet,
            text=True,
            check=False,
            timeout=300,
        )
    except subprocess.TimeoutExpired as stuck:
        raise SystemExit(f"stuck for 300s, stopped: {' '.join(command[:5])}") from stuck
    if result.returncode != 0:
        if quiet:
            print(result.stdout, result.stderr, file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(command[:5])}")


if __name__ == "__main__":
    sys.exit(main())
