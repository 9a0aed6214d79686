package dev.lancet.engine.slicegpt;

import dev.lancet.engine.linalg.SymmetricEigen;
import dev.lancet.engine.model.NormFusion;
import dev.lancet.engine.model.ResidualRotation;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Function;
import java.util.function.IntConsumer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * SliceGPT (Ashkboos et al., ICLR 2024) on a whole model: fuse the norms, then visit the residual stream in order
 * (embeddings; each block's middle and output, the output being the next block's input; the head). At each
 * {@link Place} the uncentred second moment H = Σ xᵀx (fp64) of the calibration signal, computed through everything
 * already rotated and sliced upstream, gives the basis Q: its eigenvectors by descending eigenvalue, of which the
 * first k columns are kept. Where H comes from is the caller's ({@link SecondMoments}).
 */
public final class SliceGpt {

    /**
     * @param width      k, the residual width kept everywhere except the last block's output
     * @param sliceHead  whether the last block's output (the head's input) is sliced too (reference default: no)
     */
    public record Settings(int width, boolean sliceHead) {
    }

    private SliceGpt() {
    }

    /** Hears after each block: how many are done, and every basis so far (see {@link #slice}). */
    @FunctionalInterface
    public interface BlockDone {
        void blocks(int done, List<INDArray> bases);
    }

    /** Slices with the moments of a direct loop over {@code calibration}, from the start. */
    public static Transformer slice(Transformer model, List<TokenBatch> calibration, Settings settings,
                                    IntConsumer blocksDone) {
        return slice(model, settings, SecondMoments.direct(calibration), List.of(),
                (done, bases) -> blocksDone.accept(done));
    }

    /**
     * Slices {@code model}, which it takes over (it must not be used afterwards), asking {@code moments} for each
     * place's H in turn. The bases of the places, in visiting order (the embeddings', then each block's middle and
     * output), go to {@code blockDone} after each block; a killed run's {@code saved} bases are applied as they are
     * instead of being measured again, so that it continues from its last completed block to the same weights.
     * Throws {@link IllegalArgumentException} before changing anything when the model cannot be sliced to that width.
     */
    public static Transformer slice(Transformer model, Settings settings, SecondMoments moments, List<INDArray> saved,
                                    BlockDone blockDone) {
        SliceWidth.check(model.config(), model.layout(), settings.width());
        ResidualRotation rotation = new ResidualRotation(NormFusion.fuse(model));
        int k = settings.width();
        int last = rotation.numBlocks() - 1;
        List<INDArray> bases = new ArrayList<>();
        Function<Place, INDArray> basisAt = place -> {
            int kept = place.equals(Place.output(last)) && !settings.sliceHead() ? place.width(rotation) : k;
            INDArray basis = bases.size() < saved.size() ? checked(saved.get(bases.size()), place, rotation, kept)
                    : basis(moments.of(rotation, place), kept);
            bases.add(basis);
            return basis;
        };
        INDArray basis = basisAt.apply(Place.embeddings());
        rotation.rotateEmbeddings(basis);
        for (int i = 0; i <= last; i++) {
            rotation.rotateInput(i, basis);
            rotation.rotateMiddle(i, basisAt.apply(Place.middle(i)));
            basis = basisAt.apply(Place.output(i));
            rotation.rotateOutput(i, basis);
            blockDone.blocks(i + 1, Collections.unmodifiableList(bases));
        }
        rotation.rotateHead(basis);
        return rotation.result();
    }

    private static INDArray checked(INDArray basis, Place place, ResidualRotation rotation, int kept) {
        if (basis.rows() != place.width(rotation) || basis.columns() != kept) {
            throw new IllegalArgumentException("saved basis of " + place.signalName() + " is " + basis.rows() + "×"
                    + basis.columns() + ", the place needs " + place.width(rotation) + "×" + kept);
        }
        return basis;
    }

    /** The leading k principal directions of the second moment h: [width, k], fp64, orthonormal columns. */
    static INDArray basis(INDArray h, int k) {
        INDArray basis = principalDirections(h).get(NDArrayIndex.all(), NDArrayIndex.interval(0, k)).dup('c');
        h.close();
        return basis;
    }

    /** Eigenvectors of the symmetric {@code h} as columns, by descending eigenvalue. */
    static INDArray principalDirections(INDArray h) {
        return SymmetricEigen.descending(h).vectors();
    }
}
