// Preloaded into the upstream tool server: binds every listener to 127.0.0.1, since the server
// offers no host option of its own.
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || typeof args[0] === 'string' && /^\d+$/.test(args[0])) {
    const port = Number(args[0]);
    const cb = args.find((a) => typeof a === 'function');
    return listen.call(this, { port, host: '127.0.0.1' }, cb);
  }
  return listen.apply(this, args);
};
