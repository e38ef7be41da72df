/*
 * import.h — `klc import model.keras -o model.kl [--layers my_layers.kl]`.
 *
 * Reads a Keras 3 .keras archive: its config.json (a Sequential of built-in
 * layers, its input shape, its compile settings) becomes a .kl program, and
 * its model.weights.h5 the weights as safetensors beside it (model.kl ->
 * model.safetensors), under klc's names, found through the program's own
 * Keras paths (the generated program is checked in process).  A layer of a
 * class klc does not know is taken from --layers (a .kl file with a layer of
 * that class name, given the config's arguments) or refused with a message
 * naming it.  Nothing is written unless everything converted.
 */
#ifndef KLC_IMPORT_H
#define KLC_IMPORT_H

/* Returns the process exit status: 0 done, 1 the archive cannot be
 * imported (message on stderr), 2 bad usage. */
int klc_import_main(int argc, char **argv);

#endif /* KLC_IMPORT_H */
