// One skill's work two ways, for scripts/bench: `node echo_server.js exec`
// reads one JSON object on stdin and prints the answer (an exec: skill, a
// process per request); `node echo_server.js mcp` is a stdio MCP server
// whose tool "echo" does the same work (an mcp: skill, one warm process).
'use strict';
const work = (input) => ({ echo: input.message === undefined ? null : input.message, length: JSON.stringify(input).length });
if (process.argv[2] === 'exec') {
  let text = '';
  process.stdin.on('data', (d) => { text += d; });
  process.stdin.on('end', () => { process.stdout.write(JSON.stringify(work(JSON.parse(text))) + '\n'); });
} else {
  const rl = require('readline').createInterface({ input: process.stdin });
  const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
  rl.on('line', (line) => {
    let m;
    try { m = JSON.parse(line); } catch (e) { return; }
    if (m.id === undefined) return;
    if (m.method === 'initialize') {
      send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'echo', version: '1' } } });
    } else if (m.method === 'tools/call') {
      const out = work(m.params.arguments || {});
      send({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: JSON.stringify(out) }], structuredContent: out } });
    } else {
      send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'no such method' } });
    }
  });
}
