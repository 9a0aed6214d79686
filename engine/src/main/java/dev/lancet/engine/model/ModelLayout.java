package dev.lancet.engine.model;

import dev.lancet.proto.ModelLayoutProto;
import java.util.ArrayList;
import java.util.List;

/**
 * The shape of a decoder-only model block by block ({@link BlockLayout}): what a pruned model's config.json
 * records, what curvature state is sized from, and, with the checkpoint's path, all a node needs to rebuild the
 * model. Structural edits produce a new layout; weights never travel with it.
 */
public record ModelLayout(List<BlockLayout> blocks) {

    public ModelLayout {
        blocks = List.copyOf(blocks);
        for (int i = 1; i < blocks.size(); i++) {
            if (blocks.get(i).fused() != blocks.get(0).fused()) {
                throw new IllegalArgumentException("block " + i + " has " + blocks.get(i).norm() + " but block 0 has "
                        + blocks.get(0).norm());
            }
            if (blocks.get(i).residualIn() != blocks.get(i - 1).residualOut()) {
                throw new IllegalArgumentException("block " + i + " reads a residual stream of "
                        + blocks.get(i).residualIn() + " but block " + (i - 1) + " writes "
                        + blocks.get(i - 1).residualOut());
            }
        }
    }

    public int numBlocks() {
        return blocks.size();
    }

    public BlockLayout block(int index) {
        return blocks.get(index);
    }

    /** Every decoder linear layer, block by block, in execution order. */
    public List<LinearLayout> linears() {
        List<LinearLayout> all = new ArrayList<>();
        blocks.forEach(b -> all.addAll(b.linears()));
        return all;
    }

    /** The index of the block holding the linear layer {@code name}. */
    public int blockOf(String name) {
        for (int i = 0; i < blocks.size(); i++) {
            for (LinearLayout l : blocks.get(i).linears()) {
                if (l.name().equals(name)) {
                    return i;
                }
            }
        }
        throw new IllegalArgumentException("no decoder linear layer named '" + name + "'");
    }

    /** Whether the model's norms are folded into its linears (SliceGPT's form; every block or none is). */
    public boolean fused() {
        return !blocks.isEmpty() && blocks.get(0).fused();
    }

    /** The residual-stream width the embeddings write. */
    public int embeddingWidth() {
        return blocks.get(0).residualIn();
    }

    /** The residual-stream width the head reads. */
    public int headWidth() {
        return blocks.get(blocks.size() - 1).residualOut();
    }

    /** Whether every block has the same heads, KV heads, head width and MLP width (stock HF config keys suffice). */
    public boolean uniform() {
        BlockLayout first = blocks.get(0);
        return blocks.stream().allMatch(b -> b.heads() == first.heads() && b.kvHeads() == first.kvHeads()
                && b.headDim() == first.headDim() && b.intermediate() == first.intermediate());
    }

    public ModelLayoutProto toProto() {
        ModelLayoutProto.Builder b = ModelLayoutProto.newBuilder();
        blocks.forEach(block -> b.addBlocks(block.toProto()));
        return b.build();
    }

    public static ModelLayout fromProto(ModelLayoutProto p) {
        return new ModelLayout(p.getBlocksList().stream().map(BlockLayout::fromProto).toList());
    }
}
