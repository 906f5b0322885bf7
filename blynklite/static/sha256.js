// SHA-256 (FIPS 180-4) and the Blynk password hash, in plain JS: crypto.subtle is missing on pages
// whose certificate the browser does not trust, which a self-signed local server usually is.
"use strict";
var BlynkHash = (function () {
  var K = [];
  (function () {
    var n = 2, found = 0;
    function frac(x) { return ((x - Math.floor(x)) * 4294967296) >>> 0; }
    while (found < 64) {
      var prime = true;
      for (var d = 2; d * d <= n; d++) { if (n % d === 0) { prime = false; break; } }
      if (prime) { K[found++] = frac(Math.pow(n, 1 / 3)); }
      n++;
    }
  })();

  function utf8(text) { return Array.from(new TextEncoder().encode(text)); }

  function sha256(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var message = bytes.slice();
    var bitLength = bytes.length * 8;
    message.push(0x80);
    while (message.length % 64 !== 56) { message.push(0); }
    for (var i = 7; i >= 0; i--) { message.push(Math.floor(bitLength / Math.pow(2, 8 * i)) & 0xff); }
    var w = new Array(64);
    for (var block = 0; block < message.length; block += 64) {
      for (var t = 0; t < 16; t++) {
        var j = block + t * 4;
        w[t] = ((message[j] << 24) | (message[j + 1] << 16) | (message[j + 2] << 8) | message[j + 3]) >>> 0;
      }
      for (t = 16; t < 64; t++) {
        var s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
        var s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (t = 0; t < 64; t++) {
        var t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) >>> 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h = [h[0] + a, h[1] + b, h[2] + c, h[3] + d, h[4] + e, h[5] + f, h[6] + g, h[7] + k].map(function (x) { return x >>> 0; });
    }
    var out = [];
    h.forEach(function (x) { out.push(x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff); });
    return out;
  }

  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

  function base64(bytes) { return btoa(String.fromCharCode.apply(null, bytes)); }

  // Base64(SHA-256(password ‖ SHA-256(lowercase(email)))), spec/app.md §2.3
  function passwordHash(password, email) {
    return base64(sha256(utf8(password).concat(sha256(utf8(email.toLowerCase())))));
  }

  return { sha256: sha256, passwordHash: passwordHash, utf8: utf8, base64: base64 };
})();
