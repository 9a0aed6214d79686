package dev.lancet.engine.model;

import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.ModelConfig.NormKind;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.nn.Attention;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.nn.DecoderBlock;
import dev.lancet.engine.nn.FeedForward;
import dev.lancet.engine.nn.FusedRmsNorm;
import dev.lancet.engine.nn.GatedMlp;
import dev.lancet.engine.nn.LayerNorm;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.nn.Norm;
import dev.lancet.engine.nn.PostNormBlock;
import dev.lancet.engine.nn.PreNormBlock;
import dev.lancet.engine.nn.ReluMlp;
import dev.lancet.engine.nn.RmsNorm;
import dev.lancet.engine.nn.Rope;
import dev.lancet.engine.nn.ShortcutBlock;
import dev.lancet.engine.nn.Softmax;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A decoder-only causal LM (OPT, Llama and its descendants) on ND4J: embeddings → blocks → final norm (none
 * after post-norm blocks) → head, with a hand-written backward of the summed next-token NLL. All arrays share
 * one dtype (FLOAT, or DOUBLE for gradient checks). The model owns its weights' native memory: {@link #close()}
 * frees it. A model with fused norms (SliceGPT) has {@link ShortcutBlock}s, a residual stream as wide as its layout
 * says, parameter-free norms and a head of its own, with a bias where a LayerNorm's shift was folded into it.
 */
public final class Transformer implements AutoCloseable {

    private final ModelConfig config;
    private final ModelLayout layout;
    private final TensorNames names;
    private final DataType dtype;
    private final INDArray tokenEmbedding;
    /** OPT's learned position table (offset 2), else null. */
    private final INDArray positionEmbedding;
    private final Linear projectIn;
    private final Linear projectOut;
    private final List<DecoderBlock> blocks;
    /** Null when the blocks are post-norm: the last one already ends on a norm. */
    private final Norm finalNorm;
    private final INDArray head;
    /** Null unless a LayerNorm's shift was folded into the head. */
    private final INDArray headBias;
    /** The tensor names the model was loaded from, kept through edits: saving skips those it no longer has. */
    private final Set<String> sourceParameters;

    private Transformer(ModelConfig config, ModelLayout layout, TensorNames names, DataType dtype,
                        INDArray tokenEmbedding, INDArray positionEmbedding, Linear projectIn, Linear projectOut,
                        List<DecoderBlock> blocks, Norm finalNorm, INDArray head, INDArray headBias,
                        Set<String> sourceParameters) {
        this.config = config;
        this.layout = layout;
        this.names = names;
        this.dtype = dtype;
        this.tokenEmbedding = tokenEmbedding;
        this.positionEmbedding = positionEmbedding;
        this.projectIn = projectIn;
        this.projectOut = projectOut;
        this.blocks = blocks;
        this.finalNorm = finalNorm;
        this.head = head;
        this.headBias = headBias;
        this.sourceParameters = sourceParameters;
    }

    /** Builds the model from a checkpoint, converting every tensor to {@code dtype}. */
    public static Transformer load(Checkpoint checkpoint, DataType dtype) {
        return new Loader(checkpoint, dtype).build();
    }

    /**
     * Builds the model from a checkpoint that must have {@code expected} as its layout: how a node rebuilds a
     * model it was described by (path, layout), refusing a checkpoint that changed in between.
     */
    public static Transformer load(Checkpoint checkpoint, ModelLayout expected, DataType dtype) {
        if (!checkpoint.layout().equals(expected)) {
            throw checkpoint.configError("its layout differs from the expected one (" + describe(checkpoint.layout())
                    + " instead of " + describe(expected) + ")");
        }
        return load(checkpoint, dtype);
    }

    private static String describe(ModelLayout layout) {
        return layout.numBlocks() + " blocks, heads " + layout.blocks().stream().map(b -> b.heads() + "/" + b.kvHeads())
                .toList() + ", MLP " + layout.blocks().stream().map(BlockLayout::intermediate).toList();
    }

    /**
     * The same model with other decoder blocks (structural edits): embeddings, norms and head are shared, so this
     * model must not be used or closed afterwards; the caller frees whatever it replaced.
     */
    Transformer withBlocks(ModelLayout newLayout, List<DecoderBlock> newBlocks) {
        return new Transformer(config, newLayout, names, dtype, tokenEmbedding, positionEmbedding, projectIn,
                projectOut, List.copyOf(newBlocks), finalNorm, head, headBias, sourceParameters);
    }

    /**
     * The same model with other embeddings, blocks, final norm and head (norm fusion, rotation and slicing): this
     * model must not be used or closed afterwards; the caller frees whatever it replaced.
     */
    Transformer withParts(ModelConfig newConfig, ModelLayout newLayout, INDArray newTokens, INDArray newPositions,
                          List<DecoderBlock> newBlocks, Norm newFinalNorm, INDArray newHead, INDArray newHeadBias) {
        return new Transformer(newConfig, newLayout, names, dtype, newTokens, newPositions, projectIn, projectOut,
                List.copyOf(newBlocks), newFinalNorm, newHead, newHeadBias, sourceParameters);
    }

    /** Frees this model's weights that {@code successor}, which took over the rest, no longer holds. */
    void freeAllBut(Transformer successor) {
        Set<INDArray> live = Collections.newSetFromMap(new IdentityHashMap<>());
        live.addAll(successor.parameters().values());
        parameters().values().stream().filter(a -> !live.contains(a)).forEach(INDArray::close);
    }

    INDArray tokenEmbedding() {
        return tokenEmbedding;
    }

    /** Null unless the model has learned positions. */
    INDArray positionEmbedding() {
        return positionEmbedding;
    }

    Norm finalNorm() {
        return finalNorm;
    }

    INDArray head() {
        return head;
    }

    INDArray headBias() {
        return headBias;
    }

    boolean projectsEmbeddings() {
        return projectIn != null;
    }

    /**
     * A view of this model whose decoder linear layers are replaced by {@code replace}'s results (e.g. the same layers
     * with LoRA adapters): it shares every weight with this model, which stays the owner; close only this one.
     */
    public Transformer withLinears(UnaryOperator<Linear> replace) {
        return withBlocks(layout, blocks.stream().map(b -> b.withLinears(replace)).toList());
    }

    public ModelConfig config() {
        return config;
    }

    public ModelLayout layout() {
        return layout;
    }

    public TensorNames names() {
        return names;
    }

    Set<String> sourceParameters() {
        return sourceParameters;
    }

    public DataType dtype() {
        return dtype;
    }

    public List<DecoderBlock> blocks() {
        return blocks;
    }

    /** The decoder's linear layers, block by block, in execution order. */
    public List<Linear> linears() {
        List<Linear> all = new ArrayList<>();
        blocks.forEach(b -> all.addAll(b.linears()));
        return all;
    }

    /** Every parameter by CausalLM tensor name, in model order (a tied head listed once, as the embedding). */
    public Map<String, INDArray> parameters() {
        Map<String, INDArray> all = new LinkedHashMap<>();
        all.put(names.embedTokens() + ".weight", tokenEmbedding);
        if (positionEmbedding != null) {
            all.put(names.embedPositions() + ".weight", positionEmbedding);
        }
        for (Linear projection : projectIn == null ? List.<Linear>of() : List.of(projectIn, projectOut)) {
            putLinear(all, projection);
        }
        for (DecoderBlock block : blocks) {
            putNorm(all, block.attentionNorm());
            block.attention().linears().forEach(l -> putLinear(all, l));
            if (block instanceof ShortcutBlock s) {
                putLinear(all, s.attentionShortcut());
            }
            putNorm(all, block.feedForwardNorm());
            block.feedForward().linears().forEach(l -> putLinear(all, l));
            if (block instanceof ShortcutBlock s) {
                putLinear(all, s.mlpShortcut());
            }
        }
        if (finalNorm != null) {
            putNorm(all, finalNorm);
        }
        if (!config.tiedHead()) {
            all.put(names.head() + ".weight", head);
        }
        if (headBias != null) {
            all.put(names.head() + ".bias", headBias);
        }
        return all;
    }

    private static void putLinear(Map<String, INDArray> all, Linear linear) {
        all.put(linear.name() + ".weight", linear.weight());
        if (linear.bias() != null) {
            all.put(linear.name() + ".bias", linear.bias());
        }
    }

    private static void putNorm(Map<String, INDArray> all, Norm norm) {
        if (norm.weight() == null) {
            return;
        }
        all.put(norm.name() + ".weight", norm.weight());
        if (norm.bias() != null) {
            all.put(norm.name() + ".bias", norm.bias());
        }
    }

    /**
     * Zeroes the weights of the decoder linear layer {@code layer} where {@code keep} is 0: unstructured and 2:4
     * pruning keep the dense shapes. {@code keep} has the weight's [out, in] shape.
     */
    public void applyMask(String layer, INDArray keep) {
        Linear linear = linears().stream().filter(l -> l.name().equals(layer)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no decoder linear layer named '" + layer + "'"));
        if (!Arrays.equals(keep.shape(), linear.weight().shape())) {
            throw new IllegalArgumentException(layer + ": mask of shape " + Arrays.toString(keep.shape())
                    + " for a weight of shape " + Arrays.toString(linear.weight().shape()));
        }
        linear.weight().muli(keep.castTo(dtype));
    }

    /** Number of weights and biases (a tied head counted once). */
    public long parameterCount() {
        return parameters().values().stream().mapToLong(INDArray::length).sum();
    }

    /** Frees the native memory of every weight now rather than at a later garbage collection. */
    @Override
    public void close() {
        parameters().values().forEach(INDArray::close);
    }

    /** Logits [batch·seq, vocab]. */
    public INDArray logits(TokenBatch batch) {
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FORWARD)) {
            return forwardLogits(batch).detach();
        }
    }

    /** Summed NLL over the labelled positions, forward only. */
    public Loss loss(TokenBatch batch) {
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FORWARD)) {
            return new Loss(Softmax.crossEntropy(forwardLogits(batch), batch.labelledRows(), labels(batch)),
                    batch.labelledTokens());
        }
    }

    /**
     * Forward and backward of the summed next-token NLL. Each decoder linear layer is reported to
     * {@code backprop} (its {@code a}, {@code g} and, if asked, its weight gradient) as backward reaches it.
     */
    public Loss lossAndBackward(TokenBatch batch, Backprop backprop) {
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.STEP)) {
            return step(batch, backprop);
        }
    }

    private Loss step(TokenBatch batch, Backprop backprop) {
        int b = batch.batch();
        int t = batch.seq();
        INDArray x = embed(batch);
        List<DecoderBlock.State> states = new ArrayList<>(blocks.size());
        for (DecoderBlock block : blocks) {
            DecoderBlock.State state = block.forward(x, b, t);
            states.add(state);
            x = state.output();
        }
        Norm.State finalState = finalNorm == null ? null : finalNorm.forward(x);
        INDArray normalized = finalState == null ? x : finalState.output();
        double[] nll = new double[1];
        // the vocabulary-wide logits and their gradient are the largest temporaries: free them before the blocks
        INDArray dx = Workspaces.nested(Workspaces.BLOCK, Workspaces.STEP, () -> {
            INDArray projected = projectOut == null ? normalized : projectOut.forward(normalized);
            INDArray probs = headLogits(projected);
            nll[0] = Softmax.crossEntropyInPlace(probs, batch.labelledRows(), labels(batch));
            INDArray dLogits = softmaxMinusOneHot(probs, batch);
            backprop.observeProduct(headTensor(), head, projected, dLogits, names.head() + ".bias", headBias);
            INDArray dProjected = Blas.gemm(dLogits, false, head, false);
            INDArray dNormalized = projectOut == null ? dProjected : projectOut.backward(normalized, dProjected, backprop);
            return finalState == null ? dNormalized : finalNorm.backward(finalState, dNormalized, backprop);
        });
        for (int i = blocks.size() - 1; i >= 0; i--) {
            DecoderBlock block = blocks.get(i);
            DecoderBlock.State state = states.set(i, null);
            INDArray dy = dx;
            dx = Workspaces.nested(Workspaces.BLOCK, Workspaces.STEP, () -> block.backward(state, dy, backprop, b, t));
        }
        observeEmbeddings(batch, dx, backprop);
        return new Loss(nll[0], batch.labelledTokens());
    }

    /** The head's tensor name: the embedding's when tied. */
    private String headTensor() {
        return (config.tiedHead() ? names.embedTokens() : names.head()) + ".weight";
    }

    /**
     * The embeddings' gradients from dx, the gradient of the first block's input: each token's row (through
     * project_in, an untracked layer whose own input backward does not need), and each position's.
     */
    private void observeEmbeddings(TokenBatch batch, INDArray dx, Backprop backprop) {
        if (!backprop.weightGradients()) {
            return;
        }
        INDArray dTokens = projectIn == null ? dx : projectIn.backward(null, dx, backprop);
        backprop.observeLookup(names.embedTokens() + ".weight", tokenEmbedding, batch.ids(), dTokens);
        if (positionEmbedding != null) {
            int[] positions = IntStream.range(0, batch.batch() * batch.seq()).map(r -> 2 + r % batch.seq()).toArray();
            backprop.observeLookup(names.embedPositions() + ".weight", positionEmbedding, positions, dx);
        }
    }

    INDArray embed(TokenBatch batch) {
        if (batch.seq() > config.maxPositions()) {
            throw new IllegalArgumentException("sequence length " + batch.seq() + " exceeds max_position_embeddings "
                    + config.maxPositions());
        }
        if (batch.seq() > config.slidingWindow()) {
            throw new IllegalArgumentException("sequence length " + batch.seq() + " exceeds sliding_window "
                    + config.slidingWindow() + ", and sliding-window attention is not implemented");
        }
        INDArray x = Nd4j.pullRows(tokenEmbedding, 1, batch.ids());
        if (projectIn != null) {
            x = projectIn.forward(x);
        }
        if (positionEmbedding != null) {
            INDArray positions = positionEmbedding.get(interval(2, 2 + batch.seq()));
            x.reshape('c', batch.batch(), batch.seq(), positions.size(1)).addi(positions);
        }
        return x;
    }

    /** Logits in the active {@link Workspaces#FORWARD} workspace; each block's temporaries are recycled when it ends. */
    private INDArray forwardLogits(TokenBatch batch) {
        INDArray x = embed(batch);
        for (DecoderBlock block : blocks) {
            INDArray input = x;
            x = Workspaces.nested(Workspaces.BLOCK, Workspaces.FORWARD,
                    () -> block.forward(input, batch.batch(), batch.seq()).output());
        }
        INDArray normalized = finalNorm == null ? x : finalNorm.forward(x).output();
        return headLogits(projectOut == null ? normalized : projectOut.forward(normalized));
    }

    /** Logits of the (projected) final stream. */
    private INDArray headLogits(INDArray projected) {
        INDArray logits = Blas.gemm(projected, false, head, true);
        return headBias == null ? logits : logits.addiRowVector(headBias);
    }

    /** The next-token label of each labelled row. */
    private static int[] labels(TokenBatch batch) {
        int[] rows = batch.labelledRows();
        int[] labels = new int[rows.length];
        for (int k = 0; k < rows.length; k++) {
            labels[k] = batch.ids()[rows[k] + 1];
        }
        return labels;
    }

    /** d(Σ NLL)/d logits = softmax − onehot(label) on labelled rows, 0 on the rest; reuses the buffer. */
    private static INDArray softmaxMinusOneHot(INDArray probs, TokenBatch batch) {
        DataBuffer data = probs.data();
        long vocab = probs.size(1);
        int[] ids = batch.ids();
        for (int row : batch.labelledRows()) {
            long at = row * vocab + ids[row + 1];
            data.put(at, data.getDouble(at) - 1.0);
        }
        for (int b = 0; b < batch.batch(); b++) {
            probs.getRow((long) b * batch.seq() + batch.seq() - 1).assign(0);
        }
        return probs;
    }

    /** Reads tensors in the order the layout implies, checking each shape. */
    private static final class Loader {
        private final Checkpoint checkpoint;
        private final ModelConfig config;
        private final ModelLayout layout;
        private final TensorNames names;
        private final DataType dtype;
        private final Set<String> loaded = new HashSet<>();

        Loader(Checkpoint checkpoint, DataType dtype) {
            this.checkpoint = checkpoint;
            this.config = checkpoint.config();
            this.layout = checkpoint.layout();
            this.names = checkpoint.names();
            this.dtype = dtype;
        }

        Transformer build() {
            int hidden = config.hiddenSize();
            boolean fused = layout.fused();
            if (fused && config.projectsEmbeddings()) {
                throw checkpoint.configError("fused norms with project_in/out are not supported");
            }
            int embedWidth = fused ? layout.embeddingWidth() : config.embedSize();
            INDArray tokens = tensor(names.embedTokens() + ".weight", config.vocabSize(), embedWidth);
            INDArray positions = config.positions() == ModelConfig.Positions.LEARNED_OFFSET_2
                    ? tensor(names.embedPositions() + ".weight", config.maxPositions() + 2, fused ? embedWidth : hidden)
                    : null;
            Linear projectIn = null;
            Linear projectOut = null;
            if (config.projectsEmbeddings()) {
                projectIn = linear(names.projectIn(), hidden, config.embedSize(), false, false);
                projectOut = linear(names.projectOut(), config.embedSize(), hidden, false, false);
            }
            Map<Integer, Rope> ropes = new HashMap<>();
            List<DecoderBlock> blocks = new ArrayList<>();
            for (int i = 0; i < layout.numBlocks(); i++) {
                BlockLayout shape = layout.block(i);
                Rope rope = config.positions() == ModelConfig.Positions.ROTARY
                        ? ropes.computeIfAbsent(shape.headDim(), d -> new Rope(d, config.ropeTheta(), config.ropeScaling())) : null;
                blocks.add(block(i, shape, rope));
            }
            NormKind normKind = fused ? NormKind.FUSED_RMS_NORM : config.norm();
            Norm finalNorm = config.hasFinalNorm() ? norm(names.finalNorm(), normKind, hidden) : null;
            int headWidth = fused ? layout.headWidth() : config.embedSize();
            INDArray head = config.tiedHead() ? tokens
                    : tensor(names.head() + ".weight", config.vocabSize(), headWidth);
            // folding a final LayerNorm's shift into the head gives it a bias
            INDArray headBias = fused && config.normBias() ? tensor(names.head() + ".bias", config.vocabSize()) : null;
            return new Transformer(config, layout, names, dtype, tokens, positions, projectIn, projectOut,
                    List.copyOf(blocks), finalNorm, head, headBias, Set.copyOf(loaded));
        }

        private DecoderBlock block(int i, BlockLayout shape, Rope rope) {
            if (shape.fused() && config.normPlacement() != ModelConfig.NormPlacement.PRE_NORM) {
                throw checkpoint.configError("fused norms need pre-norm blocks");
            }
            Attention attention = new Attention(linear(shape.linear(LinearRole.Q)), linear(shape.linear(LinearRole.K)),
                    linear(shape.linear(LinearRole.V)), linear(shape.linear(LinearRole.O)), shape.heads(),
                    shape.kvHeads(), shape.headDim(), rope);
            FeedForward feedForward = switch (config.feedForward()) {
                case RELU -> new ReluMlp(linear(shape.linear(LinearRole.UP)), linear(shape.linear(LinearRole.DOWN)));
                case SILU_GATED -> new GatedMlp(linear(shape.linear(LinearRole.GATE)),
                        linear(shape.linear(LinearRole.UP)), linear(shape.linear(LinearRole.DOWN)));
            };
            Norm attentionNorm = norm(names.attentionNorm(i), shape.norm(), shape.residualIn());
            Norm feedForwardNorm = norm(names.feedForwardNorm(i), shape.norm(), shape.residualMid());
            if (shape.fused()) {
                return new ShortcutBlock(attentionNorm, attention,
                        linear(names.attentionShortcut(i), shape.residualMid(), shape.residualIn(), false, false),
                        feedForwardNorm, feedForward,
                        linear(names.mlpShortcut(i), shape.residualOut(), shape.residualMid(), false, false));
            }
            return switch (config.normPlacement()) {
                case PRE_NORM -> new PreNormBlock(attentionNorm, attention, feedForwardNorm, feedForward);
                case POST_NORM -> new PostNormBlock(attentionNorm, attention, feedForwardNorm, feedForward);
            };
        }

        private Linear linear(LinearLayout l) {
            return linear(l.name(), l.out(), l.in(), l.bias(), true);
        }

        private Linear linear(String name, int out, int in, boolean bias, boolean tracked) {
            return new Linear(name, tensor(name + ".weight", out, in), bias ? tensor(name + ".bias", out) : null,
                    tracked);
        }

        private Norm norm(String name, NormKind kind, int size) {
            return switch (kind) {
                case LAYER_NORM -> new LayerNorm(name, tensor(name + ".weight", size), tensor(name + ".bias", size),
                        config.normEps());
                case RMS_NORM -> new RmsNorm(name, tensor(name + ".weight", size), config.normEps());
                case FUSED_RMS_NORM -> new FusedRmsNorm(name, config.hiddenSize(), config.normEps());
            };
        }

        private INDArray tensor(String name, long... shape) {
            loaded.add(name);
            return checkpoint.load(name, dtype, shape);
        }
    }
}
