package dev.lancet.engine.llmpruner;

/**
 * The decoder blocks LLM-Pruner prunes, {@code from} inclusive to {@code to} exclusive (the reference's
 * {@code --block_*_layer_start/end}); the blocks outside keep every head and channel.
 */
public record LayerRange(int from, int to) {

    public LayerRange {
        if (from < 0 || from >= to) {
            throw new IllegalArgumentException("--layers FROM:TO needs 0 <= FROM < TO, got " + from + ":" + to);
        }
    }

    /**
     * The reference's range for Llama-7B, blocks 4 to 29 of 32 (first four and last two kept, paper App. B.1),
     * scaled to {@code blocks}: from ⌊blocks/8⌋ to blocks − ⌊blocks/16⌋. 32 blocks give 4:30, 12 give 1:12, and
     * models of up to 7 blocks are pruned whole (the reference's own tiny-llama run pruned all four).
     */
    public static LayerRange defaultFor(int blocks) {
        return new LayerRange(blocks / 8, blocks - blocks / 16);
    }

    /** "FROM:TO", both block indices. */
    public static LayerRange parse(String text) {
        String[] parts = text.split(":", -1);
        try {
            if (parts.length == 2) {
                return new LayerRange(Integer.parseInt(parts[0].strip()), Integer.parseInt(parts[1].strip()));
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("--layers must be FROM:TO (block indices, TO exclusive), got '" + text + "'");
    }

    /** Refuses a range reaching past the model's last block. */
    public void check(int blocks) {
        if (to > blocks) {
            throw new IllegalArgumentException("--layers " + this + " reaches past the model's " + blocks + " blocks");
        }
    }

    public boolean contains(int block) {
        return block >= from && block < to;
    }

    @Override
    public String toString() {
        return from + ":" + to;
    }
}
