package dev.lancet.engine.lora;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.model.Loss;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.nn.Backprop;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Trains a {@link LoraModel}'s adapters on the mean next-token loss, the base weights frozen: one {@link #step} is a
 * forward and backward per micro-batch (gradient accumulation), then one AdamW update at the learning rate of
 * Hugging Face's linear schedule (0 → peak over the warmup steps, then linearly down to 0 at the last step).
 */
public final class LoraTrainer implements AutoCloseable {

    /**
     * @param learningRate peak learning rate (LLM-Pruner's recovery: 1e-4)
     * @param warmup       steps of linear warmup
     * @param steps        optimizer steps in the whole run (where the decay reaches 0)
     */
    public record Schedule(double learningRate, int warmup, int steps) {
        public Schedule {
            if (!(learningRate > 0)) {
                throw new IllegalArgumentException("the learning rate must be positive, got " + learningRate);
            }
            if (steps < 1) {
                throw new IllegalArgumentException("at least 1 training step is needed, got " + steps);
            }
            if (warmup < 0) {
                throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmup);
            }
        }

        /** The rate of step {@code step} (0-based), as {@code get_linear_schedule_with_warmup}. */
        public double at(long step) {
            if (step < warmup) {
                return learningRate * step / Math.max(1, warmup);
            }
            return learningRate * Math.max(0.0, (double) (steps - step) / Math.max(1, steps - warmup));
        }
    }

    private static final String STEP = "step";

    private final LoraModel lora;
    private final Schedule schedule;
    private final AdamW optimizer;

    public LoraTrainer(LoraModel lora, Schedule schedule) {
        this.lora = lora;
        this.schedule = schedule;
        List<INDArray> parameters = new ArrayList<>();
        List<INDArray> gradients = new ArrayList<>();
        for (LoraLayer l : lora.layers()) {
            parameters.add(l.a());
            parameters.add(l.b());
            gradients.add(l.gradA());
            gradients.add(l.gradB());
        }
        this.optimizer = new AdamW(parameters, gradients, AdamW.Hyper.defaults());
    }

    /** Optimizer steps done so far. */
    public long stepsDone() {
        return optimizer.steps();
    }

    /**
     * One optimizer step on the micro-batches' mean next-token loss (their gradients accumulated); returns their
     * summed loss before the update.
     */
    public Loss step(List<TokenBatch> microBatches) {
        long step = optimizer.steps();
        lora.layers().forEach(LoraLayer::zeroGradients);
        Loss total = new Loss(0, 0);
        try {
            for (int i = 0; i < microBatches.size(); i++) {
                lora.dropout().start(step, i);
                total = total.plus(lora.view().lossAndBackward(microBatches.get(i), new Backprop(false, null, null)));
            }
        } finally {
            lora.dropout().stop();
        }
        double perToken = 1.0 / total.tokens();
        lora.layers().forEach(l -> l.finishGradients(perToken));
        optimizer.step(schedule.at(step));
        return total;
    }

    /** Writes the adapters, the optimizer's moments and the step count (fp32: exact for a FLOAT model). */
    public void save(Path file) {
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        List<INDArray> first = optimizer.firstMoments();
        List<INDArray> second = optimizer.secondMoments();
        int i = 0;
        for (LoraLayer l : lora.layers()) {
            for (String part : List.of("lora_A", "lora_B")) {
                INDArray p = part.equals("lora_A") ? l.a() : l.b();
                String name = l.layer().name() + "." + part;
                entries.add(entry(name + ".weight", p));
                entries.add(entry(name + ".exp_avg", first.get(i)));
                entries.add(entry(name + ".exp_avg_sq", second.get(i)));
                i++;
            }
        }
        SafetensorsWriter.write(file, Map.of(STEP, Long.toString(optimizer.steps())), entries);
    }

    private static SafetensorsWriter.Entry entry(String name, INDArray value) {
        return SafetensorsWriter.Entry.ofFloats(name, DType.F32, value.shape(),
                value.castTo(DataType.FLOAT).dup('c').data().asFloat());
    }

    /** Continues from what {@link #save} wrote for the same model and settings. */
    public void restore(Path file) {
        try (SafetensorsFile saved = SafetensorsFile.open(file)) {
            List<INDArray> first = optimizer.firstMoments();
            List<INDArray> second = optimizer.secondMoments();
            int i = 0;
            for (LoraLayer l : lora.layers()) {
                for (String part : List.of("lora_A", "lora_B")) {
                    String name = l.layer().name() + "." + part;
                    load(saved, name + ".weight", part.equals("lora_A") ? l.a() : l.b());
                    load(saved, name + ".exp_avg", first.get(i));
                    load(saved, name + ".exp_avg_sq", second.get(i));
                    i++;
                }
            }
            String step = saved.metadata().get(STEP);
            if (step == null) {
                throw new CheckpointException(file, "has no step count");
            }
            optimizer.restoreSteps(Long.parseLong(step));
        }
    }

    private static void load(SafetensorsFile saved, String name, INDArray into) {
        if (saved.find(name).isEmpty()) {
            throw new CheckpointException(saved.path(), "has no tensor " + name + " (another model or rank?)");
        }
        float[] values = saved.readFloats(name);
        if (values.length != into.length()) {
            throw new CheckpointException(saved.path(), name + " has " + values.length + " values, expected "
                    + into.length());
        }
        into.assign(Nd4j.createFromArray(values).reshape(into.shape()).castTo(into.dataType()));
    }

    @Override
    public void close() {
        optimizer.close();
    }
}
