package dev.lancet.engine.prune;

/** What is removed at once. */
public enum Structure {
    /**
     * Coupled structures removed physically: an MLP channel (its fc1 or gate and up rows with its fc2 or down
     * column) and an attention head (its q, k, v rows and o columns; on GQA a key/value head with its query heads).
     */
    GROUPS,
    /** The LLM Surgeon paper's rows and columns of each matrix, kept dense with zeros. */
    ROWS_COLS,
    /** Two of every aligned group of four input weights, kept dense with zeros. */
    SEMI_2_4,
    /** Single weights, kept dense with zeros. */
    UNSTRUCTURED;

    /** Whether the structure removes single weights (SparseGPT's only kind). */
    public boolean elementwise() {
        return this == SEMI_2_4 || this == UNSTRUCTURED;
    }
}
