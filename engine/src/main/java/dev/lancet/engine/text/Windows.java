package dev.lancet.engine.text;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.model.TokenBatch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Non-overlapping windows of {@code seq} tokens cut from the start of a token stream, the remainder
 * dropped (the protocol of LLM Surgeon, SliceGPT and SparseGPT).
 */
public record Windows(int[] tokens, int seq, int count) {

    /** At most {@code maxWindows} windows (0: all). */
    public static Windows of(int[] tokens, int seq, int maxWindows) {
        requireLength(seq);
        int count = tokens.length / seq;
        if (maxWindows > 0) {
            count = Math.min(count, maxWindows);
        }
        return new Windows(tokens, seq, count);
    }

    /** The windows of a text file, which must hold at least one; at most {@code maxWindows} (0: all). */
    public static Windows read(Tokenizer tokenizer, Path file, int seq, int maxWindows) {
        return of(tokenize(tokenizer, file, seq), seq, maxWindows);
    }

    /** The tokens of a text file, which must hold at least one window of {@code seq} tokens. */
    static int[] tokenize(Tokenizer tokenizer, Path file, int seq) {
        int[] ids = tokenizer.encode(TextFiles.readUtf8(file));
        if (ids.length < seq) {
            throw new CheckpointException(file, "only " + ids.length + " tokens, shorter than one window of " + seq);
        }
        return ids;
    }

    /** A window scores positions 1..seq−1 given the ones before: it needs at least two tokens. */
    public static void requireLength(int seq) {
        if (seq < 2) {
            throw new IllegalArgumentException("windows need at least 2 tokens, got " + seq);
        }
    }

    public static void requireBatchSize(int batchSize) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("a batch needs at least 1 window, got " + batchSize);
        }
    }

    /** Consecutive windows grouped into batches of at most {@code batchSize}. */
    public List<TokenBatch> batches(int batchSize) {
        requireBatchSize(batchSize);
        List<TokenBatch> out = new ArrayList<>();
        for (int first = 0; first < count; first += batchSize) {
            int n = Math.min(batchSize, count - first);
            out.add(new TokenBatch(n, seq, Arrays.copyOfRange(tokens, first * seq, (first + n) * seq)));
        }
        return out;
    }
}
