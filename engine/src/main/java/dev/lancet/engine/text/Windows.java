package dev.lancet.engine.text;

import dev.lancet.engine.model.TokenBatch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Non-overlapping windows of {@code seq} tokens cut from the start of a token stream, the remainder
 * dropped (the protocol of LLM Surgeon, SliceGPT and SparseGPT).
 */
public record Windows(int[] tokens, int seq, int count) {

    public static Windows of(int[] tokens, int seq, int maxWindows) {
        int count = tokens.length / seq;
        if (maxWindows > 0) {
            count = Math.min(count, maxWindows);
        }
        return new Windows(tokens, seq, count);
    }

    /** Consecutive windows grouped into batches of at most {@code batchSize}. */
    public List<TokenBatch> batches(int batchSize) {
        List<TokenBatch> out = new ArrayList<>();
        for (int first = 0; first < count; first += batchSize) {
            int n = Math.min(batchSize, count - first);
            out.add(new TokenBatch(n, seq, Arrays.copyOfRange(tokens, first * seq, (first + n) * seq)));
        }
        return out;
    }
}
