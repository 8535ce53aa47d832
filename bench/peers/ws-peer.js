#!/usr/bin/env node
// bench/peers/ws-peer.js: the comparison baseline for roomcast's load scenarios.
//
// The load subset of protocol v1 written the way a Node `ws` user would write it:
//   GET /ws/{room} upgrade (anything else: 404)
//   join   -> welcome {type,session,room,user,seq:0,peers:[]} to the sender,
//             presence join to every other member
//   cursor -> {"type":"cursor","session",position,target[,up][,fov]} to every other member
//             (one JSON.stringify per relayed message, ws.send per recipient)
//   close  -> presence leave to the others
// Prints `peer listening on 127.0.0.1:PORT` when ready. Usage: node ws-peer.js [--port N]
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

function parseArgs(argv) {
  const out = { port: 0, host: '127.0.0.1' };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') out.port = Number(argv[++i]);
    else if (a.startsWith('--port=')) out.port = Number(a.slice(7));
    else if (a === '--host') out.host = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log('usage: node ws-peer.js [--port N] [--host 127.0.0.1]');
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    console.error('--port must be 0..65535');
    process.exit(2);
  }
  return out;
}

const ROOM_PATH = /^\/ws\/([A-Za-z0-9_.-]{1,128})(\?.*)?$/;
const rooms = new Map(); // room name -> Set of sockets
let nextSession = 0;

function isVec3(v) {
  return Array.isArray(v) && v.length === 3 && v.every(Number.isFinite);
}

function sendError(ws, code, message) {
  ws.send(JSON.stringify({ type: 'error', code, message }));
}

function broadcast(room, except, text) {
  for (const peer of room) {
    if (peer !== except && peer.readyState === peer.OPEN) peer.send(text);
  }
}

function onMessage(ws, data, isBinary) {
  if (isBinary) {
    ws.close(1003);
    return;
  }
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    sendError(ws, 'bad_json', 'not JSON');
    return;
  }
  if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string') {
    sendError(ws, 'bad_message', 'not a message');
    return;
  }
  if (msg.type === 'join') {
    if (ws.session) return sendError(ws, 'already_joined', 'second join');
    const user = msg.user;
    if (!user || typeof user.id !== 'string' || user.id === '') {
      return sendError(ws, 'bad_message', 'join: `user.id` must be a non-empty string');
    }
    ws.session = `n-${nextSession++}`;
    ws.user = user;
    let room = rooms.get(ws.roomName);
    if (!room) rooms.set(ws.roomName, (room = new Set()));
    ws.room = room;
    ws.send(JSON.stringify({
      type: 'welcome', session: ws.session, room: ws.roomName, user, seq: 0, peers: [],
    }));
    broadcast(room, ws, JSON.stringify({
      type: 'presence', event: 'join', session: ws.session, user,
    }));
    room.add(ws);
    return;
  }
  if (!ws.session) return sendError(ws, 'not_joined', 'join first');
  if (msg.type === 'cursor') {
    if (!isVec3(msg.position) || !isVec3(msg.target)) {
      return sendError(ws, 'bad_message', 'cursor: `position` and `target` must be [x,y,z]');
    }
    const out = { type: 'cursor', session: ws.session, position: msg.position, target: msg.target };
    if (isVec3(msg.up)) out.up = msg.up;
    if (Number.isFinite(msg.fov)) out.fov = msg.fov;
    broadcast(ws.room, ws, JSON.stringify(out));
    return;
  }
  if (msg.type === 'ping') {
    ws.send(JSON.stringify({ type: 'pong', t: msg.t }));
    return;
  }
  if (msg.type === 'leave') {
    ws.close(1000);
    return;
  }
  sendError(ws, 'unknown_type', `unknown type ${msg.type}`);
}

function onClose(ws) {
  const room = ws.room;
  if (!room || !room.delete(ws)) return;
  broadcast(room, ws, JSON.stringify({ type: 'presence', event: 'leave', session: ws.session }));
  if (room.size === 0) rooms.delete(ws.roomName);
}

function main() {
  const args = parseArgs(process.argv);
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    res.writeHead(ROOM_PATH.test(req.url) ? 426 : 404, { 'Content-Type': 'text/plain' });
    res.end();
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const m = ROOM_PATH.exec(req.url);
    if (!m) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.roomName = m[1];
      ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
      ws.on('close', () => onClose(ws));
      ws.on('error', () => {});
    });
  });
  server.listen(args.port, args.host, () => {
    const { address, port } = server.address();
    console.log(`peer listening on ${address}:${port}`);
  });
  const stop = () => {
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
    server.close();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main();
