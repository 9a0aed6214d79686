package dev.lancet.engine.prune;

import java.util.Arrays;

/** Index sets of rows or columns handed to costs and corrections. */
final class Indices {

    private Indices() {
    }

    /** A sorted copy of {@code idx}, after checking that its entries are distinct and in [0, bound). */
    static int[] sortedDistinct(int[] idx, int bound, String what) {
        int[] sorted = idx.clone();
        Arrays.sort(sorted);
        for (int p = 0; p < sorted.length; p++) {
            if (sorted[p] < 0 || sorted[p] >= bound) {
                throw new IllegalArgumentException(what + " index " + sorted[p] + " is out of range [0, " + bound + ")");
            }
            if (p > 0 && sorted[p] == sorted[p - 1]) {
                throw new IllegalArgumentException(what + " index " + sorted[p] + " is given twice");
            }
        }
        return sorted;
    }
}
