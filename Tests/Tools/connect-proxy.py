#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy for the tests: prints its port on stdout, then tunnels each CONNECT and appends
"host:port" (and the Proxy-Authorization it got, if any) to the log file named by its one argument."""
import signal
import socket
import sys
import threading


def relay(source, target):
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def handle(client, log):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(1)
        if not chunk:
            client.close()
            return
        head += chunk
    lines = head.decode("latin-1").split("\r\n")
    method, authority, _ = lines[0].split(" ", 2)
    authorization = [line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("proxy-authorization:")]
    with open(log, "a") as file:
        file.write(authority + (" " + authorization[0] if authorization else "") + "\n")
    if method != "CONNECT":
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    host, port = authority.rsplit(":", 1)
    upstream = socket.create_connection((host.strip("[]"), int(port)))
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=relay, args=(client, upstream), daemon=True).start()
    relay(upstream, client)


def main():
    # Foundation's Process starts this from a thread that blocks most signals, and the mask is inherited: without
    # this, the test's terminate() would never end it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    print(server.getsockname()[1], flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, sys.argv[1]), daemon=True).start()


main()
