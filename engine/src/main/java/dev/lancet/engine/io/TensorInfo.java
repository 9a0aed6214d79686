package dev.lancet.engine.io;

import java.util.Arrays;

/** One header entry; begin and end are byte offsets relative to the start of the data section. */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    /** Product of the shape; 1 for a scalar. Open has already checked it does not overflow. */
    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + "," + end + ")";
    }
}
