#!/usr/bin/env node
/*
 * A small Blynk device built on the official JavaScript library (npm "blynk-library", see package.json),
 * driven by tests/test_npm_blynk_library.py through stdin/stdout.
 *
 *   node blynk_device.js --token TOKEN [--host 127.0.0.1] [--port 8080] [--tls --ca server.crt]
 *                        [--heartbeat MS] [--pins 0-15]
 *
 * Every option may also come from the environment: BLYNK_TOKEN, BLYNK_HOST, BLYNK_PORT, BLYNK_TLS=1,
 * BLYNK_CA, BLYNK_HEARTBEAT (milliseconds, the library's unit), BLYNK_PINS.
 *
 * stdout: one JSON object per line, nothing else (the library's own console.log chatter goes to stderr):
 *   {"event":"start", "library":"0.5.4", ...}       once, before connecting
 *   {"event":"connect"} / {"event":"disconnect"}    the library's own events
 *   {"event":"error", "error":"ECONNREFUSED"}       the library's 'error' event
 *   {"event":"write", "pin":1, "values":["42"]}     a virtual-pin write handler was called
 *   {"event":"read", "pin":1}                       a virtual-pin read handler was called
 *   {"event":"sent", "cmd":20, "id":3, "body":[..]} a frame the library wrote (recorded, not changed)
 *   {"event":"recv", "cmd":0, "id":1, "status":200} a frame the library received (body:[..] for messages)
 *   {"event":"done", "seq":N, "cmd":"write"}        a stdin command was executed
 *
 * stdin: one JSON command per line, each answered with "done" (or "error" with "seq"):
 *   {"seq":1, "cmd":"write", "pin":5, "values":["123"]}   blynk.virtualWrite(pin, values)
 *   {"seq":2, "cmd":"sync", "pin":3}                       blynk.syncVirtual(pin)
 *   {"seq":3, "cmd":"syncall"}                             blynk.syncAll()
 *   {"seq":4, "cmd":"disconnect"}                          blynk.disconnect(false): close, no reconnect
 *   {"seq":5, "cmd":"exit"}                                exit the process at once
 * End of stdin also exits, so the device never outlives its driver.
 *
 * Strings: the library reads and writes its socket as 'binary' (latin1), so every byte is one JS char.
 * Bodies are printed as latin1 strings decoded as UTF-8 again; values to write are sent as UTF-8 bytes
 * packed into such a string, which keeps the library's length field (JS string length) right.
 */
'use strict';

// The library prints a banner and connection chatter with console.log: keep stdout for JSON only.
console.log = function () { console.error.apply(console, arguments); };
console.info = console.log;

var readline = require('readline');
var BlynkLib = require('blynk-library');
var libraryVersion = require('blynk-library/package.json').version;

function option(name, envName, fallback) {
  var index = process.argv.indexOf('--' + name);
  if (index >= 0) {
    var next = process.argv[index + 1];
    return (next === undefined || next.indexOf('--') === 0) ? true : next;
  }
  if (process.env[envName] !== undefined && process.env[envName] !== '') return process.env[envName];
  return fallback;
}

var token = option('token', 'BLYNK_TOKEN', null);
var host = option('host', 'BLYNK_HOST', '127.0.0.1');
var port = parseInt(option('port', 'BLYNK_PORT', '8080'), 10);
var tlsOption = option('tls', 'BLYNK_TLS', false);
var tls = tlsOption === true || tlsOption === '1' || tlsOption === 'true';
var ca = option('ca', 'BLYNK_CA', null);
var heartbeat = parseInt(option('heartbeat', 'BLYNK_HEARTBEAT', '10000'), 10);
var pins = String(option('pins', 'BLYNK_PINS', '0-15')).split('-').map(Number);

function emit(object) {
  process.stdout.write(JSON.stringify(object) + '\n');
}

function fromWire(text) {  // latin1 JS string (one char per byte) -> real string
  return Buffer.from(text, 'latin1').toString('utf8');
}

function toWire(value) {  // real value -> UTF-8 bytes as a latin1 JS string
  return Buffer.from(String(value), 'utf8').toString('latin1');
}

if (!token) {
  console.error('usage: node blynk_device.js --token TOKEN [--host H] [--port P] [--tls --ca FILE] [--heartbeat MS]');
  process.exit(2);
}

var connector;
if (tls) {
  // The library's SslClient passes rejectUnauthorized:false to tls.connect but then refuses to go on
  // (silently, "SSL not authorized") unless the certificate verified, so the server's CA is required.
  // Without "ca" it would trust only its bundled certs/server.crt (the old Blynk cloud certificate).
  var sslOptions = { addr: host, port: port };
  if (ca) sslOptions.ca = [ca];
  connector = new BlynkLib.SslClient(sslOptions);
} else {
  connector = new BlynkLib.TcpClient({ addr: host, port: port });
}

var blynk = new BlynkLib.Blynk(token, {
  connector: connector,
  heartbeat: heartbeat,
  skip_connect: true,  // connect below, once the recorders are in place
});

// -- recorders (observe only: each wrapper calls the library's own function unchanged) -------------
function describeFrames(buffer, direction) {
  var frames = [];
  while (buffer.length >= 5) {
    var cmd = buffer.charCodeAt(0);
    var id = buffer.charCodeAt(1) << 8 | buffer.charCodeAt(2);
    var len = buffer.charCodeAt(3) << 8 | buffer.charCodeAt(4);
    if (cmd === 0) {
      frames.push({ event: direction, cmd: cmd, id: id, status: len });
      buffer = buffer.substr(5);
      continue;
    }
    if (buffer.length < 5 + len) break;
    frames.push({ event: direction, cmd: cmd, id: id, body: fromWire(buffer.substr(5, len)).split('\0') });
    buffer = buffer.substr(5 + len);
  }
  return { frames: frames, rest: buffer };
}

var originalWrite = connector.write;
connector.write = function (data) {
  describeFrames(String(data), 'sent').frames.forEach(emit);
  return originalWrite.apply(this, arguments);
};

var received = '';
var originalOnReceive = blynk.onReceive;
blynk.onReceive = function (data) {
  var parsed = describeFrames(received + data, 'recv');
  received = parsed.rest;
  parsed.frames.forEach(emit);
  return originalOnReceive.apply(this, arguments);
};

blynk.on('connect', function () { emit({ event: 'connect' }); });
blynk.on('disconnect', function () { received = ''; emit({ event: 'disconnect' }); });
blynk.on('error', function (error) { emit({ event: 'error', error: String(error) }); });

for (var pin = pins[0]; pin <= (pins.length > 1 ? pins[1] : pins[0]); pin++) {
  (function (pinNumber) {
    var vpin = new blynk.VirtualPin(pinNumber);
    vpin.on('write', function (values) {
      emit({ event: 'write', pin: pinNumber, values: values.map(fromWire) });
    });
    vpin.on('read', function () { emit({ event: 'read', pin: pinNumber }); });
  })(pin);
}

// -- commands from the driver ----------------------------------------------------------------------
function run(command) {
  switch (command.cmd) {
    case 'write':
      blynk.virtualWrite(command.pin, (command.values || []).map(toWire));
      break;
    case 'sync':
      blynk.syncVirtual(command.pin);
      break;
    case 'syncall':
      blynk.syncAll();
      break;
    case 'disconnect':
      blynk.disconnect(false);
      break;
    case 'exit':
      process.exit(0);
      break;
    default:
      throw new Error('unknown command ' + JSON.stringify(command.cmd));
  }
}

readline.createInterface({ input: process.stdin }).on('line', function (line) {
  if (!line.trim()) return;
  var command;
  try {
    command = JSON.parse(line);
    run(command);
    emit({ event: 'done', seq: command.seq, cmd: command.cmd });
  } catch (error) {
    emit({ event: 'error', seq: command && command.seq, error: String(error && error.message || error) });
  }
}).on('close', function () {
  process.exit(0);
});

emit({ event: 'start', library: libraryVersion, node: process.version, host: host, port: port, tls: tls,
       heartbeat: heartbeat });
blynk.connect();
