package dev.lancet.engine.io;

/** Element types of safetensors tensors, named as in the header. */
public enum DType {
    F64(8), F32(4), F16(2), BF16(2),
    // Integer types only so that checkpoints carrying integer buffers still open; they are read with raw().
    I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    public boolean isFloat() {
        return this == F64 || this == F32 || this == F16 || this == BF16;
    }

    /** @throws IllegalArgumentException for a name that is not a supported dtype */
    public static DType parse(String name) {
        for (DType t : values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown dtype '" + name + "'");
    }
}
