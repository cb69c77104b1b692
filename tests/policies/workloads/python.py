# Real work for CPython under policies/seccomp/agent.json (tests/unit/test_seccomp.c runs it
# with python3 -c): files, subprocess (vfork/close_range), threads, a TCP echo over 127.0.0.1,
# socketpair, timers, getaddrinfo(AI_ADDRCONFIG) (netlink), asyncio subprocesses and a
# fork-based multiprocessing pool. Exits 0 when every step worked.
import asyncio, hashlib, os, socket, subprocess, sys, tempfile, threading, time, json, random, shutil, selectors
def main():
    d = tempfile.mkdtemp(prefix="nc-sc-")
    p = os.path.join(d, "a.txt")
    with open(p, "w") as f:
        f.write("hello")
    with open(p) as f:
        assert f.read() == "hello"
    os.rename(p, p + ".2"); os.stat(p + ".2"); os.listdir(d); shutil.rmtree(d)
    assert subprocess.run(["/bin/echo", "sub"], capture_output=True, check=True).stdout == b"sub\n"
    assert subprocess.run(["/bin/sh", "-c", "exit 3"]).returncode == 3
    out = subprocess.run(["/bin/cat"], input=b"piped", capture_output=True, close_fds=True).stdout
    assert out == b"piped"
    res = []
    ts = [threading.Thread(target=lambda i=i: res.append(sum(range(i * 1000)))) for i in range(4)]
    [t.start() for t in ts]; [t.join() for t in ts]
    assert len(res) == 4
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0)); srv.listen(1)
    def serve():
        c, _ = srv.accept(); c.sendall(c.recv(16)); c.close()
    t = threading.Thread(target=serve); t.start()
    cl = socket.create_connection(srv.getsockname()); cl.sendall(b"ping")
    assert cl.recv(16) == b"ping"; cl.close(); t.join(); srv.close()
    a, b = socket.socketpair(); a.send(b"x"); assert b.recv(1) == b"x"
    time.sleep(0.02)
    timer = threading.Timer(0.01, lambda: None); timer.start(); timer.join()
    socket.getaddrinfo("localhost", 80, flags=socket.AI_ADDRCONFIG)
    socket.if_nameindex()
    hashlib.sha256(os.urandom(32)).hexdigest(); random.SystemRandom().random()
    async def co():
        proc = await asyncio.create_subprocess_exec("/bin/true")
        await proc.wait()
        await asyncio.sleep(0.01)
        return proc.returncode
    assert asyncio.run(co()) == 0
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(abs, [-1, -2]) == [1, 2]
    os.cpu_count(); os.sched_getaffinity(0)
main()
sys.exit(0)
