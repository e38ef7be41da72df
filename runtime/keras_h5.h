/*
 * keras_h5.h — Keras 3 weight files: .weights.h5 (HDF5) and the weights in a
 * .keras archive (a zip holding config.json, metadata.json, model.weights.h5)
 * (internal).
 *
 * Layout (Keras' saving_lib): every object owning variables has a group
 * <object path>/vars with datasets "0", "1", ... (its own variables,
 * trainable then not, in creation order); a Sequential's layers are at
 * layers/<snake_case(class)>[_<k>], their sub-layers at their attribute
 * names ("layers/lstm/cell/vars/0").  Each klc weight's path is in its
 * klc_tensor_def (keras_path), written by the compiler.  The optimizer's
 * group ("optimizer/vars") is ignored when reading and not written.
 *
 * HDF5 (libhdf5) and zip (libzip) support are optional at build time
 * (KLC_HAVE_HDF5, KLC_HAVE_ZIP); without them these formats are refused with
 * a message saying so.  Files are read whole and parsed in memory; they are
 * written in memory and then to a temporary file renamed over the target.
 */
#ifndef KLC_KERAS_H5_H
#define KLC_KERAS_H5_H

#include <stddef.h>

#include "klc/runtime.h"

typedef enum klc_weights_format {
    KLC_WEIGHTS_SAFETENSORS = 0,
    KLC_WEIGHTS_H5,           /* .weights.h5 */
    KLC_WEIGHTS_KERAS         /* .keras zip */
} klc_weights_format;

/* The format of a file to read: by its first bytes (HDF5's or zip's
 * signature), else by the name's extension (.h5, .keras), else safetensors. */
klc_weights_format klc_weights_format_of(const char *path, const unsigned char *buf, size_t size);
/* The format to write `path` in, by its extension. */
klc_weights_format klc_weights_format_for_save(const char *path);

/* Load the weights in an HDF5 file image / a .keras archive image (named
 * `name` in messages) into m.  Everything is checked before m changes: each
 * weight's dataset must exist with the weight's shape and a float dtype
 * (float64 values must fit float32), and the file may hold no other
 * dataset outside optimizer/.  Returns 0 or -1 with a message naming the
 * file and the first mismatch. */
int klc_h5_load_image(klc_model *m, const char *name, const unsigned char *buf, size_t size);
int klc_keras_load_image(klc_model *m, const char *name, const unsigned char *buf, size_t size);

/* The bytes of archive member `member` ("config.json") of the .keras file
 * image buf[0..size), malloc'd and NUL-terminated, into *out / *out_size. */
int klc_keras_member(const char *name, const unsigned char *buf, size_t size, const char *member,
                     unsigned char **out, size_t *out_size);

/* Write m's weights to `path` as a Keras .weights.h5 file (float32). */
int klc_h5_save(klc_model *m, const char *path);

#endif /* KLC_KERAS_H5_H */
