"""A result file or sweep store read as named numpy arrays, without xarray: what `imapk plot` draws.

Importing xarray (with pandas, and dask, which xarray's array checks import when it is installed)
takes most of a second, and a plot needs a dozen arrays. :class:`ResultView` answers the part of the
xarray Dataset interface that :mod:`imapk.plot` uses: ``dims``, ``sizes``, ``attrs``, ``name in
view``, ``view[name]`` (an :class:`ArrayView` with ``values``, ``dims``, ``attrs``, ``sizes``,
``transpose`` and ``isel``) and ``isel`` by position. Each variable is read from the open NetCDF-4
file (h5netcdf) or Zarr store (zarr) the first time it is asked for.

The values are those xarray reads from the same file (tested variable by variable on results of
every kind and on a sweep store), for files whose variables need no CF decoding beyond a NaN fill
value and xarray's boolean encoding: text as numpy strings, numbers in their stored type.
:func:`needs_xarray` and :func:`zarr_needs_xarray` tell which files need more (packed or
time-encoded variables, other fill values); those are read with xarray
(:func:`imapk.io.read_netcdf_view`, :func:`imapk.io.read_zarr_view`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ArrayView", "ResultView", "needs_xarray", "zarr_needs_xarray"]

#: Variable attributes that make xarray change the stored values (CF packing, time and mask
#: encodings); a file with any of them is read with xarray.
DECODED_ATTRIBUTES = frozenset({"scale_factor", "add_offset", "missing_value", "_Unsigned", "calendar"})


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def needs_xarray(attrs) -> bool:
    """True if a variable with these HDF5 attributes is decoded by xarray into other values than
    those stored and :class:`ResultView` reads: CF packing, masking with a fill value other than
    NaN, time units ("... since ...") or an encoded type other than bool."""
    if DECODED_ATTRIBUTES.intersection(attrs):
        return True
    if "dtype" in attrs and _text(attrs["dtype"]) != "bool":  # booleans are read here; timedeltas are not
        return True
    units = _text(attrs.get("units"))
    if isinstance(units, str) and " since " in units:
        return True
    if "_FillValue" in attrs:
        fill = np.asarray(attrs["_FillValue"])
        return not (fill.dtype.kind == "f" and fill.size == 1 and math.isnan(float(fill.reshape(-1)[0])))
    return False


def _index(values: np.ndarray, dims: tuple[str, ...], index: dict) -> tuple[np.ndarray, tuple[str, ...]]:
    """`values` indexed by position along named dimensions, as xarray's ``isel`` does (orthogonal
    indexing: an integer drops its dimension, a list of positions keeps it)."""
    kept = list(dims)
    for axis in range(len(dims) - 1, -1, -1):
        dim = dims[axis]
        if dim not in index:
            continue
        values = values[(slice(None),) * axis + (index[dim], Ellipsis)]  # a 0-d array, not a scalar, at the end
        if np.ndim(index[dim]) == 0:
            del kept[axis]
    return values, tuple(kept)


def _compose(index: dict, sizes: dict, indexers: dict) -> dict:
    """The index `index` followed by `indexers` (positions in what `index` leaves), checked against
    the dimensions and their `sizes` after `index`."""
    missing = [dim for dim in indexers if dim not in sizes]
    if missing:
        raise ValueError(f"Dimensions {missing} do not exist. Expected one or more of {tuple(sizes)}")
    combined = dict(index)
    for dim, new in indexers.items():
        new = new if isinstance(new, slice) else np.asarray(new).astype(np.intp, casting="same_kind")
        positions = np.arange(sizes[dim])[new]  # raises IndexError when out of range, as numpy
        if dim in index:
            positions = np.asarray(index[dim])[positions]
        combined[dim] = int(positions) if np.ndim(positions) == 0 else positions
    return combined


class ArrayView:
    """One variable: its ``values`` (a numpy array), ``dims`` (names, one per axis) and ``attrs``."""

    __slots__ = ("values", "dims", "attrs")

    def __init__(self, values: np.ndarray, dims: tuple[str, ...], attrs: dict):
        self.values = values
        self.dims = tuple(dims)
        self.attrs = attrs

    @property
    def sizes(self) -> dict:
        return dict(zip(self.dims, np.shape(self.values)))

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)

    def __len__(self) -> int:
        return len(self.values)

    def transpose(self, *dims: str) -> ArrayView:
        """The same values with the axes in the order of `dims` (all of them)."""
        if sorted(dims) != sorted(self.dims):
            raise ValueError(f"{dims} must be a permuted list of {self.dims}")
        return ArrayView(np.transpose(self.values, [self.dims.index(d) for d in dims]), dims, self.attrs)

    def isel(self, indexers: dict | None = None, **positions) -> ArrayView:
        """The values at these positions along these dimensions (an integer drops the dimension)."""
        index = _compose({}, self.sizes, {**(indexers or {}), **positions})
        values, dims = _index(self.values, self.dims, index)
        return ArrayView(values, dims, self.attrs)


class _Source:
    """An open file or store (`handle`) and the variables read from it so far.

    Subclasses set ``names`` (the variables), ``sizes`` (length of each dimension) and ``attrs``,
    and read one variable in ``_read``.
    """

    what = "result"

    def __init__(self, path, handle):
        self.path = str(path)
        self.handle = handle
        self.read: dict[str, ArrayView] = {}

    def variable(self, name: str) -> ArrayView:
        if name not in self.read:
            try:
                self.read[name] = self._read(name)
            except Exception as error:  # noqa: BLE001 - damaged data fail anywhere in h5py/h5netcdf/zarr
                from .io import _unreadable

                raise _unreadable(error, self.path, self.what) from None
        return self.read[name]

    def _read(self, name: str) -> ArrayView:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _NetcdfFile(_Source):
    """A NetCDF-4 result open with h5netcdf (``decode_vlen_strings=True``)."""

    def __init__(self, path, handle):
        super().__init__(path, handle)
        self.names = frozenset(handle.variables)
        self.sizes = {name: len(dim) for name, dim in handle.dimensions.items()}
        self.attrs = _plain_attributes(handle.attrs)

    def _read(self, name: str) -> ArrayView:
        variable = self.handle.variables[name]
        attrs = _plain_attributes(variable.attrs)
        attrs.pop("_FillValue", None)
        attrs.pop("coordinates", None)
        values = np.asarray(variable[...])
        if _text(attrs.get("dtype")) == "bool":  # xarray's encoding of booleans
            del attrs["dtype"]
            values = values.astype(bool)
        if values.dtype == object:
            values = values.astype(str)  # text: fixed-width numpy strings, as xarray reads it
        return ArrayView(values, variable.dimensions, attrs)

    def close(self) -> None:
        self.handle.close()


class _ZarrStore(_Source):
    """A Zarr (format 2) store written by xarray, open with zarr: dimension names in each array's
    ``_ARRAY_DIMENSIONS`` attribute."""

    what = "sweep store"

    def __init__(self, path, handle):
        super().__init__(path, handle)
        self.arrays = dict(handle.arrays())
        self.names = frozenset(self.arrays)
        self.sizes = {}
        for array in self.arrays.values():
            for dim, size in zip(array.attrs["_ARRAY_DIMENSIONS"], array.shape):
                self.sizes.setdefault(dim, size)
        self.attrs = dict(handle.attrs)

    def _read(self, name: str) -> ArrayView:
        array = self.arrays[name]
        attrs = dict(array.attrs)
        dims = tuple(attrs.pop("_ARRAY_DIMENSIONS"))
        attrs.pop("coordinates", None)
        return ArrayView(np.asarray(array[...]), dims, attrs)


def zarr_needs_xarray(group) -> bool:
    """True if an array of the Zarr `group` is not one :class:`ResultView` reads as xarray does:
    not format 2 with named dimensions, text stored as objects, a fill value other than none or NaN,
    or attributes that xarray decodes (:func:`needs_xarray`)."""
    for _, array in group.arrays():
        attrs = dict(array.attrs)
        if array.metadata.zarr_format != 2 or "_ARRAY_DIMENSIONS" not in attrs or array.dtype == object:
            return True
        fill = array.fill_value
        if fill is not None and not (np.asarray(fill).dtype.kind == "f" and math.isnan(float(fill))):
            return True
        if needs_xarray(attrs):
            return True
    return False


def _plain_attributes(attrs) -> dict:
    """Attributes as xarray's h5netcdf reader gives them: bytes decoded as UTF-8 where they can be."""
    plain = {}
    for key, value in attrs.items():
        if isinstance(value, bytes) and key not in ("_FillValue", "missing_value"):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        plain[key] = value
    return plain


class ResultView:
    """A result file's (or sweep store's) variables by name, read on first use; ``isel`` selects
    by position.

    Made by :func:`imapk.io.read_netcdf_view` or :func:`imapk.io.read_zarr_view`; close it (or use
    it in a ``with`` block) when done.
    """

    def __init__(self, file: _Source, index: dict | None = None):
        self._file = file
        self._index = dict(index or {})

    @property
    def attrs(self) -> dict:
        return self._file.attrs

    @property
    def sizes(self) -> dict:
        """Length of each dimension (after the selection)."""
        sizes = {}
        for dim, size in self._file.sizes.items():
            if dim not in self._index:
                sizes[dim] = size
            elif np.ndim(self._index[dim]) > 0:
                sizes[dim] = len(self._index[dim])
        return sizes

    @property
    def dims(self) -> tuple[str, ...]:
        """Names of the dimensions (after the selection)."""
        return tuple(self.sizes)

    def __contains__(self, name) -> bool:
        return name in self._file.names

    def __getitem__(self, name: str) -> ArrayView:
        if name not in self._file.names:
            raise KeyError(name)
        variable = self._file.variable(name)
        if not any(dim in self._index for dim in variable.dims):
            return variable
        values, dims = _index(variable.values, variable.dims, self._index)
        return ArrayView(values, dims, variable.attrs)

    def isel(self, indexers: dict | None = None, **positions) -> ResultView:
        """The result at these positions along these dimensions (an integer drops the dimension,
        a list of positions keeps it)."""
        return ResultView(self._file, _compose(self._index, self.sizes, {**(indexers or {}), **positions}))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResultView:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
