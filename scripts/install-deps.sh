#!/bin/sh
# Install the Debian packages that are missing, with apt-get.
#
#   scripts/install-deps.sh              what klc's build needs
#   scripts/install-deps.sh PACKAGE...   these packages (the demo's nodejs and
#                                        npm; the tests' and bench/run.sh's
#                                        python3-torch, for /usr/bin/python3;
#                                        libhdf5-dev, libzip-dev and
#                                        python3-h5py for Keras' weight files;
#                                        scripts/fuzz.sh's clang and
#                                        libclang-rt-14-dev; the MPI tests'
#                                        libopenmpi-dev and openmpi-bin)
#
# A package counts as present when dpkg lists it as installed or what it
# provides is already at hand (its program, its pkg-config module), so a
# machine that has everything runs no apt-get at all.  Otherwise apt-get
# update, then apt-get install of the missing packages only, through sudo
# when not root and sudo exists.  Exits non-zero if something could not be
# installed.  Called by scripts/test.sh, scripts/demo.sh, bench/run.sh and
# .ci/run (clang for scripts/fuzz.sh).
set -eu

if [ "$#" -eq 0 ]; then
    set -- build-essential cmake pkg-config bison flex libcmocka-dev libopenblas-dev
fi

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

# What the package provides is usable.
provided() {
    case $1 in
        build-essential) command -v cc && command -v c++ && command -v make ;;
        cmake | pkg-config | bison | flex | npm | clang) command -v "$1" ;;
        nodejs) command -v node ;;
        libcmocka-dev) pkg-config --exists cmocka ;;
        libopenblas-dev) pkg-config --exists openblas ;;
        python3-torch) /usr/bin/python3 -c 'import torch' ;;
        python3-h5py) /usr/bin/python3 -c 'import h5py' ;;
        libhdf5-dev) pkg-config --exists hdf5 || pkg-config --exists hdf5-serial ;;
        libzip-dev) pkg-config --exists libzip ;;
        gcc-arm-none-eabi) command -v arm-none-eabi-gcc ;;
        qemu-system-arm) command -v qemu-system-arm ;;
        libopenmpi-dev) command -v mpicc ;;
        openmpi-bin) command -v mpirun ;;
        *) false ;;
    esac
}

missing=""
for pkg in "$@"; do
    installed "$pkg" || provided "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -n "$missing" ] || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing:$missing (and no apt-get to install them with)" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "install-deps: not root and no sudo; apt-get will probably fail" >&2
    fi
fi
echo "install-deps: installing$missing"
# sudo resets the environment: pass the frontend through env.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086 # $missing is a list of package names
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
