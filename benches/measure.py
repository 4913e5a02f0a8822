#!/usr/bin/env python3
"""Runs one command and prints "wall_s max_rss_kb max_anon_kb cpu_s".

usage: measure.py CMD [ARGS...]

One process polls /proc/PID/status for RssAnon (the heap and other
anonymous memory, without a mapped file's pages) every 2 ms; wall time is
from fork to exit, CPU time and peak RSS come from the kernel's rusage of
the child. It replaces a shell loop that forked pgrep and awk 200 times a
second, which took most of a core from the measured program on a 2-core
machine.
"""

import os
import sys
import time


def main():
    argv = sys.argv[1:]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    anon = 0
    status_path = f"/proc/{pid}/status"
    # Until the child has exec'd, its memory is this interpreter's.
    me = os.readlink("/proc/self/exe")
    while True:
        done, _, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        try:
            if os.readlink(f"/proc/{pid}/exe") == me:
                time.sleep(0.0005)
                continue
            with open(status_path, "rb") as f:
                for line in f:
                    if line.startswith(b"RssAnon:"):
                        anon = max(anon, int(line.split()[1]))
                        break
        except OSError:
            pass
        time.sleep(0.002)
    wall = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    print(f"{wall:.3f} {usage.ru_maxrss} {anon} {cpu:.3f}")


if __name__ == "__main__":
    main()
