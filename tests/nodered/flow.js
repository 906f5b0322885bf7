// A Node-RED flow without Node-RED: a small stand-in for the runtime object (RED) loads the
// unchanged node-red-contrib-blynk-ws nodes: one websocket client, a "write" input node on one
// virtual pin and a "write" output node on another.
//   node flow.js <ws-url> <token> <in-pin> <out-pin>
// stdout: one JSON line per event ({"event":"connected"}, {"event":"write","pin":..,"payload":..}).
// stdin:  "write <value>" sends the value through the output node; "sync" asks for the in-pin's value.
'use strict';
const EventEmitter = require('events');
const readline = require('readline');

const [url, token, inPin, outPin] = process.argv.slice(2);
const types = {};
const nodes = {};

function say(value) { process.stdout.write(JSON.stringify(value) + '\n'); }

const RED = {
  _: (text) => text,
  util: {
    ensureString: (value) => (typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)),
  },
  nodes: {
    registerType(name, constructor) {
      Object.setPrototypeOf(constructor.prototype, EventEmitter.prototype);
      types[name] = constructor;
    },
    createNode(node, config) {
      EventEmitter.call(node);
      node.id = config.id;
      node.log = (text) => process.stderr.write(`[log] ${text}\n`);
      node.warn = (text) => say({ event: 'warn', text: String(text) });
      node.error = (text) => say({ event: 'error', text: String(text) });
      node.status = () => {};
      node.send = (msg) => say({ event: 'write', pin: msg.pin, payload: msg.payload });
      nodes[config.id] = node;
    },
    getNode(id) { return nodes[id]; },
  },
};
global.RED = RED;   // the library's helpers use RED._ without importing it

const base = 'node-red-contrib-blynk-ws/nodes/';
require(base + 'blynk-ws-client.js')(RED);
require(base + 'blynk-ws-in-write.js')(RED);
require(base + 'blynk-ws-out-write.js')(RED);

const client = new types['blynk-ws-client']({ id: 'client', path: url, key: token, enabled: true, dbg_all: false });
client.on('connected', () => say({ event: 'connected' }));
new types['blynk-ws-in-write']({ id: 'in', client: 'client', pin: inPin });
const out = new types['blynk-ws-out-write']({ id: 'out', client: 'client', pin: outPin, pinmode: 0 });

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, ...rest] = line.split(' ');
  if (command === 'write') out.emit('input', { payload: rest.join(' ') }, () => {});
  if (command === 'sync') client.syncVirtual(inPin);
  if (command === 'quit') process.exit(0);
});
