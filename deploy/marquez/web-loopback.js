// Preloaded (`node --require`) into Marquez web's own Express server (web/setupProxy.js), which listens
// on every interface and has no host setting: bind it to WEB_HOST (default 127.0.0.1) instead, as every
// other service of the native stack is. The server itself is upstream's, unchanged.
'use strict';
const net = require('net');

const host = process.env.WEB_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const port = args[0];
  const isPort = typeof port === 'number' || (typeof port === 'string' && /^\d+$/.test(port));
  if (isPort && typeof args[1] !== 'string') {
    args.splice(1, 0, host); // listen(port, cb) -> listen(port, host, cb)
  }
  return listen.apply(this, args);
};
