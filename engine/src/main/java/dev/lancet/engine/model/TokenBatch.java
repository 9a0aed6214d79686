package dev.lancet.engine.model;

/**
 * {@code batch} windows of {@code seq} token ids, row-major. Within each window position t is trained to
 * predict token t+1, so the last position of every window carries no label.
 */
public record TokenBatch(int batch, int seq, int[] ids) {

    public TokenBatch {
        if (batch <= 0 || seq <= 1 || ids.length != batch * seq) {
            throw new IllegalArgumentException("batch " + batch + " x seq " + seq + " needs " + batch * seq
                    + " ids, got " + ids.length);
        }
    }

    public int tokens() {
        return batch * seq;
    }

    /** Positions that have a next-token label: all but the last of each window. */
    public int labelledTokens() {
        return batch * (seq - 1);
    }

    public int[] labelledRows() {
        int[] rows = new int[labelledTokens()];
        int i = 0;
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < seq - 1; t++) {
                rows[i++] = b * seq + t;
            }
        }
        return rows;
    }
}
