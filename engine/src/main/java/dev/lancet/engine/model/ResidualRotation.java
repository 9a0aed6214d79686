package dev.lancet.engine.model;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.nn.Attention;
import dev.lancet.engine.nn.DecoderBlock;
import dev.lancet.engine.nn.FeedForward;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.nn.ShortcutBlock;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Rotates and slices a fused model's residual stream one place at a time, in the order SliceGPT visits them, so
 * each place's signal can be measured through everything already sliced upstream. Each place gets an orthonormal
 * basis Q_k [width, k] (the first k columns of an orthogonal Q); a vector x in the old basis becomes x Q_k, so
 *
 * <ul>
 *   <li>a linear that reads the stream there becomes W Q_k (k inputs),</li>
 *   <li>a linear that writes it there becomes Q_kᵀ W, Q_kᵀ b (k outputs),</li>
 * </ul>
 *
 * and the shortcuts, being both, carry each block's residual from the basis of its input to that of its middle and
 * output. With k = width the model computes the same function (RMSNorm(x Q) = RMSNorm(x) Q). Products in fp64,
 * stored in the model's dtype. Takes over the fused model's weights, freeing each one it replaces.
 */
public final class ResidualRotation {

    private final Transformer fused;
    private INDArray tokens;
    private INDArray positions;
    private INDArray head;
    /** Applied to the embeddings' weights in {@link #result}: until then {@link #embeddings} rotates their output. */
    private INDArray embeddingBasis;
    private final List<ShortcutBlock> blocks = new ArrayList<>();

    public ResidualRotation(Transformer fused) {
        if (!fused.layout().fused()) {
            throw new IllegalArgumentException("rotation needs a model with fused norms");
        }
        this.fused = fused;
        this.tokens = fused.tokenEmbedding();
        this.positions = fused.positionEmbedding();
        this.head = fused.head();
        fused.blocks().forEach(b -> blocks.add((ShortcutBlock) b));
    }

    public int numBlocks() {
        return blocks.size();
    }

    /** Width of the stream the embeddings write, as they now write it. */
    public int embeddingWidth() {
        return (int) (embeddingBasis == null ? tokens.columns() : embeddingBasis.columns());
    }

    /** Width of block {@code i}'s middle, as the block now writes it. */
    public int middleWidth(int i) {
        return blocks.get(i).attention().o().outFeatures();
    }

    /** Width of block {@code i}'s output, as the block now writes it. */
    public int outputWidth(int i) {
        List<Linear> mlp = blocks.get(i).feedForward().linears();
        return mlp.get(mlp.size() - 1).outFeatures();
    }

    /** The embeddings' output (the first block's input) for a batch, as rotated so far: [batch·seq, width]. */
    public INDArray embeddings(TokenBatch batch) {
        INDArray x = detached(() -> fused.embed(batch));
        if (embeddingBasis == null) {
            return x;
        }
        INDArray rotated = Blas.gemm(x, false, embeddingBasis.castTo(x.dataType()), false);
        x.close();
        return rotated;
    }

    /** Block {@code i}'s residual stream between attention and MLP, for its input {@code x}. */
    public INDArray middle(int i, INDArray x, int batch, int seq) {
        return detached(() -> blocks.get(i).middle(x, batch, seq));
    }

    /** Block {@code i}'s output for its input {@code x}. */
    public INDArray output(int i, INDArray x, int batch, int seq) {
        return detached(() -> blocks.get(i).forward(x, batch, seq).output());
    }

    /** A signal computed in the forward workspace, so a block's temporaries are recycled rather than garbage. */
    private static INDArray detached(Supplier<INDArray> signal) {
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FORWARD)) {
            return signal.get().detach();
        }
    }

    /** The embeddings write the stream: their rows become rows of x Q_k (in {@link #result}). */
    public void rotateEmbeddings(INDArray basis) {
        embeddingBasis = basis;
    }

    /** Block {@code i}'s input: q, k, v and the attention shortcut read it. */
    public void rotateInput(int i, INDArray basis) {
        ShortcutBlock b = blocks.get(i);
        Attention attention = b.attention().mapInputs(l -> reader(l, basis));
        blocks.set(i, new ShortcutBlock(b.attentionNorm(), attention, reader(b.attentionShortcut(), basis),
                b.feedForwardNorm(), b.feedForward(), b.mlpShortcut()));
    }

    /** Block {@code i}'s middle: o and the attention shortcut write it; the MLP's inputs and its shortcut read it. */
    public void rotateMiddle(int i, INDArray basis) {
        ShortcutBlock b = blocks.get(i);
        Attention attention = b.attention().mapOutput(l -> writer(l, basis));
        FeedForward feedForward = b.feedForward().mapInputs(l -> reader(l, basis));
        Linear attentionShortcut = writer(b.attentionShortcut(), basis);
        blocks.set(i, new ShortcutBlock(b.attentionNorm(), attention, attentionShortcut, b.feedForwardNorm(),
                feedForward, reader(b.mlpShortcut(), basis)));
    }

    /** Block {@code i}'s output: the MLP's last layer and its shortcut write it. */
    public void rotateOutput(int i, INDArray basis) {
        ShortcutBlock b = blocks.get(i);
        FeedForward feedForward = b.feedForward().mapOutput(l -> writer(l, basis));
        blocks.set(i, new ShortcutBlock(b.attentionNorm(), b.attention(), b.attentionShortcut(), b.feedForwardNorm(),
                feedForward, writer(b.mlpShortcut(), basis)));
    }

    /** The head reads the last block's output. */
    public void rotateHead(INDArray basis) {
        head = replace(head, product(head, false, basis));
    }

    /** The rotated model with its new layout; this object must not be used afterwards. */
    public Transformer result() {
        if (embeddingBasis != null) {
            tokens = replace(tokens, product(tokens, false, embeddingBasis));
            if (positions != null) {
                positions = replace(positions, product(positions, false, embeddingBasis));
            }
        }
        ModelConfig config = fused.config();
        List<BlockLayout> layouts = new ArrayList<>();
        for (int i = 0; i < blocks.size(); i++) {
            ShortcutBlock b = blocks.get(i);
            BlockLayout shape = fused.layout().block(i);
            List<Linear> mlp = b.feedForward().linears();
            layouts.add(BlockLayout.of(config, fused.names(), i, shape.heads(), shape.kvHeads(), shape.headDim(),
                    shape.intermediate(), b.attention().q().inFeatures(), b.attention().o().outFeatures(),
                    mlp.get(mlp.size() - 1).outFeatures(), shape.norm()));
        }
        return fused.withParts(config, new ModelLayout(layouts), tokens, positions, List.<DecoderBlock>copyOf(blocks),
                fused.finalNorm(), head, fused.headBias());
    }

    /** W Q_k: a layer reading the rotated stream. */
    private static Linear reader(Linear l, INDArray basis) {
        return new Linear(l.name(), replace(l.weight(), product(l.weight(), false, basis)), l.bias(), l.tracked());
    }

    /** Q_kᵀ W and Q_kᵀ b: a layer writing the rotated stream. */
    private static Linear writer(Linear l, INDArray basis) {
        INDArray bias = l.bias() == null ? null
                : replace(l.bias(), product(l.bias().reshape(1, l.bias().length()), false, basis).reshape(basis.size(1)));
        return new Linear(l.name(), replace(l.weight(), product(l.weight(), true, basis)), bias, l.tracked());
    }

    /** a Q_k, or (transposeA) Q_kᵀ a computed as (aᵀ Q_k)ᵀ, in fp64, as a's dtype. */
    private static INDArray product(INDArray a, boolean transpose, INDArray basis) {
        INDArray q = basis.castTo(DataType.DOUBLE);
        INDArray a64 = a.castTo(DataType.DOUBLE);
        INDArray p = transpose ? q.transpose().mmul(a64) : a64.mmul(q);
        return p.castTo(a.dataType()).dup('c');
    }

    private static INDArray replace(INDArray old, INDArray replacement) {
        old.close();
        return replacement;
    }
}
