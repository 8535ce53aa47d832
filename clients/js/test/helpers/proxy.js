/**
 * A TCP proxy in front of the server, so a test can cut the network under a client
 * (`drop`: both sides see the connection end without a close frame), lose what the
 * server sends (`deafen`: bytes to the client are discarded until the next drop), or look
 * down (`block`).
 */
import net from 'node:net';

/** @param {number} target the server's port on 127.0.0.1 */
export async function startProxy(target) {
  /** @type {Set<net.Socket>} */
  const sockets = new Set();
  let deaf = false;
  let blocked = false;
  const server = net.createServer((client) => {
    if (blocked) return void client.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => deaf || client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const port = /** @type {net.AddressInfo} */ (server.address()).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    /** Discard everything the server sends from now until the next drop. */
    deafen() {
      deaf = true;
    },
    /** @param {boolean} on while on, new connections are cut at once (the server looks down) */
    block(on) {
      blocked = on;
    },
    /** Cut every connection at once, like a network failure. */
    drop() {
      deaf = false;
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
