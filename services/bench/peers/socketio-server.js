// Socket.IO 4 peer for `roomcast-bench load` and `roomcast-bench memory`.
//
// The Socket.IO equivalent of the roomcast gateway's room broadcast:
// - a client connects to ws://127.0.0.1:PORT/socket.io/?EIO=4&transport=websocket&room=NAME
//   and is joined to NAME in the connection handler (roomcast: `?room=NAME` joins the
//   connect room in `$connect`); without `room` it joins no room;
// - `publish` events `42["publish", ROOM, DATA]` are relayed to every member of ROOM
//   with `io.to(ROOM).emit("m", DATA)` (roomcast: `{"action":"emit","room":ROOM,
//   "event":"m","data":DATA}` -> `{"type":"event",...}`). The bench's publisher joins no
//   room, so on both servers it is not among the receivers.
//
// Usage: node socketio-server.js PORT   (prints "ready PORT" once listening; stops on
// SIGTERM/SIGINT or when stdin closes, so it never outlives the bench).

"use strict";

const { Server } = require("socket.io");

const port = Number(process.argv[2] || process.env.PORT || 0);

const io = new Server({
  // The bench speaks Engine.IO v4 over WebSocket directly (no long-polling upgrade).
  transports: ["websocket"],
  // Same as the roomcast gateway: no compression.
  perMessageDeflate: false,
  serveClient: false,
  // Defaults, spelled out: ping every 25 s, clients must answer within 20 s.
  pingInterval: 25000,
  pingTimeout: 20000,
});

io.on("connection", (socket) => {
  const room = socket.handshake.query.room;
  if (typeof room === "string" && room.length > 0) {
    socket.join(room);
  }
  socket.on("publish", (target, data) => {
    if (typeof target === "string") {
      io.to(target).emit("m", data);
    }
  });
});

const httpServer = require("node:http").createServer();
io.attach(httpServer);
httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`ready ${httpServer.address().port}\n`);
});

function stop() {
  io.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// The bench holds our stdin open; when it exits (even killed), stdin closes.
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
