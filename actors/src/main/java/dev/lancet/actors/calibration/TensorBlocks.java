package dev.lancet.actors.calibration;

import com.google.protobuf.ByteString;
import dev.lancet.proto.DType;
import dev.lancet.proto.FactorSums;
import dev.lancet.proto.TensorBlock;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.linalg.Workspaces;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Collection;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Glue between ND4J arrays / KFAC factors and their protobuf wire form (a byte copy, no arithmetic). */
final class TensorBlocks {

    private TensorBlocks() {
    }

    static TensorBlock toProto(INDArray array) {
        INDArray dense = array.isView() || array.ordering() != 'c' ? array.dup('c') : array;
        DType dtype = switch (dense.dataType()) {
            case FLOAT -> DType.F32;
            case DOUBLE -> DType.F64;
            default -> throw new IllegalArgumentException("cannot send " + dense.dataType());
        };
        ByteBuffer bytes = dense.data().asNio().order(ByteOrder.LITTLE_ENDIAN);
        bytes.limit((int) (dense.length() * dense.data().getElementSize()));
        TensorBlock.Builder block = TensorBlock.newBuilder().setDtype(dtype).setData(ByteString.copyFrom(bytes));
        for (long d : dense.shape()) {
            block.addShape(d);
        }
        return block.build();
    }

    /** A new array outside any workspace: the message that carries it owns it. */
    static INDArray toArray(TensorBlock block) {
        return Workspaces.outside(() -> decode(block));
    }

    private static INDArray decode(TensorBlock block) {
        DataType dtype = switch (block.getDtype()) {
            case F32 -> DataType.FLOAT;
            case F64 -> DataType.DOUBLE;
            default -> throw new IllegalArgumentException("tensor block without dtype");
        };
        long[] shape = block.getShapeList().stream().mapToLong(Long::longValue).toArray();
        INDArray array = Nd4j.createUninitialized(dtype, shape, 'c');
        long expected = array.length() * array.data().getElementSize();
        if (block.getData().size() != expected) {
            throw new IllegalArgumentException("tensor block of shape " + block.getShapeList() + " carries "
                    + block.getData().size() + " bytes, expected " + expected);
        }
        block.getData().copyTo(array.data().asNio().order(ByteOrder.LITTLE_ENDIAN));
        return array;
    }

    /** A forward-only factor goes without sum_g. */
    static FactorSums toProto(KfacFactor factor, Collection<Long> batches) {
        FactorSums.Builder sums = FactorSums.newBuilder().setLayer(factor.layer()).setBias(factor.hasBias())
                .setSumA(toProto(factor.sumA())).setTokens(factor.tokens()).addAllBatches(batches);
        if (factor.dimG() > 0) {
            sums.setSumG(toProto(factor.sumG()));
        }
        return sums.build();
    }

    /** Kept state: allocated outside any workspace. */
    static KfacFactor toFactor(FactorSums sums) {
        return Workspaces.outside(() -> {
            INDArray sumA = decode(sums.getSumA());
            INDArray sumG = sums.hasSumG() ? decode(sums.getSumG()) : null;
            KfacFactor factor = KfacFactor.fromSums(sums.getLayer(), sums.getBias(), sumA, sumG, sums.getTokens());
            sumA.close();
            if (sumG != null) {
                sumG.close();
            }
            return factor;
        });
    }
}
