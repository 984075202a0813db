"""Start one process per device (or join a torchrun job) and initialise torch.distributed.

NCCL when the processes drive GPUs, gloo on CPU-only machines, where ``--num-gpus N`` spawns N
CPU processes (how the CPU DDP tests run), each with ``cores / N`` torch threads.

The parent of spawned workers survives SIGTERM/SIGINT: it forwards them to the workers (which
save one checkpoint and exit ``128 + signal``), waits for them, and exits 143 (130 for SIGINT
alone), see ``stop_signals``.
"""
from __future__ import annotations

import datetime
import faulthandler
import logging
import multiprocessing.connection
import os
import socket
import time
from typing import Any, Callable, NoReturn

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ov_avss.utils import comm

from .defaults import EXIT_BAD_INPUT
from .stop_signals import STOP_SIGNALS, StopSignals, stop_exit_code

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may run on
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def started_by_torchrun() -> bool:
    """Whether torchrun (or another env:// launcher) set this process's rank variables."""
    return all(name in os.environ for name in _TORCHRUN_VARIABLES)


def _backend(num_local_processes: int) -> str:
    if not torch.cuda.is_available():
        return "gloo"
    if num_local_processes > torch.cuda.device_count():
        raise RuntimeError(
            f"{num_local_processes} processes per machine requested but only "
            f"{torch.cuda.device_count()} CUDA devices are visible"
        )
    return "nccl"


def launch(
    main_func: Callable[..., Any],
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str | None = None,
    args: tuple = (),
    timeout: datetime.timedelta = DEFAULT_TIMEOUT,
) -> None:
    """Run ``main_func(*args)`` on every process of the job.

    - Under torchrun (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_*`` set): this process
      joins the job through ``env://``; the ``num_*`` arguments are ignored.
    - Otherwise ``num_machines * num_gpus_per_machine`` processes in total; more than one
      spawns ``num_gpus_per_machine`` workers here. ``dist_url="auto"`` (single machine only)
      picks a free local port; with several machines every one must get the same URL of
      machine 0, e.g. ``tcp://10.0.0.1:29500``.
    """
    if started_by_torchrun():
        local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        _run_worker(
            main_func,
            args,
            backend=_backend(local_world_size),
            init_method="env://",
            rank=int(os.environ["RANK"]),
            world_size=int(os.environ["WORLD_SIZE"]),
            local_rank=int(os.environ["LOCAL_RANK"]),
            local_world_size=local_world_size,
            timeout=timeout,
        )
        return
    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1:
        main_func(*args)
        return
    if dist_url is None:
        raise ValueError("--dist-url is required when running more than one process")
    if dist_url == "auto":
        if num_machines != 1:
            raise ValueError("--dist-url auto only works on one machine; give machine 0's tcp:// URL")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    if num_machines > 1 and dist_url.startswith("file://"):
        logger.warning("file:// rendezvous across machines needs a shared file system: %s", dist_url)
    backend = _backend(num_gpus_per_machine)
    pids: list[int] = []

    def forward(signum: int, first: bool) -> None:
        # Workers also get a scheduler's process-group signal; they save once however many come.
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:  # that worker has already exited
                pass

    # After a stop the launcher only reports the workers' statuses and exits: late signals are
    # ignored so that its exit status stays 143 / 130.
    with StopSignals(forward, ignore_after_stop=True) as stop:
        context = mp.start_processes(
            _spawned_worker,
            nprocs=num_gpus_per_machine,
            args=(main_func, args, backend, dist_url, world_size, num_gpus_per_machine, machine_rank, timeout),
            daemon=False,
            start_method="spawn",
            join=False,
        )
        pids.extend(context.pids())
        if stop.requested:  # arrived while the workers were being started
            forward(stop.received[0], True)
        exit_codes = _wait_for_workers(context)
    # Every code is now 0, 128 + signal (saved and stopped) or -signal (killed before training).
    interrupted = [code - 128 if code > 0 else -code for code in exit_codes if code != 0]
    if stop.requested or interrupted:
        code = stop_exit_code(stop.received + interrupted)
        logger.warning("Workers stopped on a signal (exit statuses %s); exiting with %d", exit_codes, code)
        raise SystemExit(code)


def _wait_for_workers(context: mp.ProcessContext) -> list[int]:
    """Wait until every worker exited; a worker that failed (not 0, not ``128 + SIGTERM /
    SIGINT``, not killed by one of them before it could install its handlers) makes torch's
    ``join`` stop the others and raise with its traceback."""
    stopped_codes = {0} | {code for signum in STOP_SIGNALS for code in (128 + int(signum), -int(signum))}
    processes = context.processes
    while True:
        if any(p.exitcode == EXIT_BAD_INPUT for p in processes):
            _stop_after_input_error(processes)
        if any(p.exitcode is not None and p.exitcode not in stopped_codes for p in processes):
            while not context.join():
                pass
        alive = [p for p in processes if p.exitcode is None]
        if not alive:
            return [p.exitcode for p in processes]
        multiprocessing.connection.wait([p.sentinel for p in alive])


def _stop_after_input_error(processes: list, grace_seconds: float = 30.0) -> NoReturn:
    """A worker printed an ``error:`` line about the run's inputs and exited ``EXIT_BAD_INPUT``:
    the others (which normally meet the same error) get ``grace_seconds`` to exit, are then
    killed, and the launcher exits ``EXIT_BAD_INPUT`` too, without a traceback of its own."""
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            logger.warning("Worker %d did not exit after another one's input error; killing it", process.pid)
            process.kill()
            process.join()
    raise SystemExit(EXIT_BAD_INPUT)


def launch_from_args(main_func: Callable[..., Any], args: Any) -> Any:
    """``launch(main_func, ..., args=(args,))`` with the process layout of
    ``default_argument_parser``'s ``--num-gpus``, ``--num-machines``, ``--machine-rank`` and
    ``--dist-url``."""
    return launch(
        main_func,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


def _spawned_worker(
    local_rank: int,
    main_func: Callable[..., Any],
    args: tuple,
    backend: str,
    dist_url: str,
    world_size: int,
    num_gpus_per_machine: int,
    machine_rank: int,
    timeout: datetime.timedelta,
) -> None:
    _run_worker(
        main_func,
        args,
        backend=backend,
        init_method=dist_url,
        rank=machine_rank * num_gpus_per_machine + local_rank,
        world_size=world_size,
        local_rank=local_rank,
        local_world_size=num_gpus_per_machine,
        timeout=timeout,
    )


def _run_worker(
    main_func: Callable[..., Any],
    args: tuple,
    *,
    backend: str,
    init_method: str,
    rank: int,
    world_size: int,
    local_rank: int,
    local_world_size: int,
    timeout: datetime.timedelta,
) -> None:
    # A fatal signal in a worker (an abort in C++, a segfault) prints every thread's Python stack
    # to its stderr, so that the launcher's report says where each thread was.
    faulthandler.enable()
    # comm.get_local_rank() and tools that read the torchrun variables see the same values
    # whichever way the process was started.
    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(world_size),
            "LOCAL_RANK": str(local_rank),
            "LOCAL_WORLD_SIZE": str(local_world_size),
        }
    )
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    elif local_world_size > 1 and "OMP_NUM_THREADS" not in os.environ:
        # Each spawned CPU worker would otherwise start one thread per core of the machine, N
        # times oversubscribing it. torchrun sets OMP_NUM_THREADS itself; a user's value wins.
        torch.set_num_threads(max(1, _available_cores() // local_world_size))
    dist.init_process_group(
        backend=backend, init_method=init_method, world_size=world_size, rank=rank, timeout=timeout
    )
    try:
        comm.synchronize()
        main_func(*args)
    finally:
        dist.destroy_process_group()
