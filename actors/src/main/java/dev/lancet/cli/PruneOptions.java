package dev.lancet.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValue;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.llmpruner.Aggregation;
import dev.lancet.engine.llmpruner.Importance;
import dev.lancet.engine.llmpruner.LayerRange;
import dev.lancet.engine.llmpruner.Strategy;
import dev.lancet.engine.llmpruner.TaylorSettings;
import dev.lancet.engine.prune.Damping;
import dev.lancet.engine.prune.PruneMethod;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.Schedule;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import dev.lancet.jobs.PruneJob;
import dev.lancet.jobs.JobSpec;
import dev.lancet.jobs.SliceJob;
import dev.lancet.proto.daemon.PruneRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiFunction;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The flags of one pruning job, shared by {@code lancet prune} and {@code lancet client submit} (a picocli mixin),
 * and their one conversion to a {@link PruneJob.Spec}: the daemon turns a {@link PruneRequest} back into these
 * options, so a submitted job is checked exactly as the command line checks it.
 */
public final class PruneOptions {

    private static final String SLICEGPT = "slicegpt";
    private static final String LLM_PRUNER = "llm-pruner";

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory (default: embedded tiny-llama).")
    Path model;

    @Option(names = "--method", paramLabel = "NAME",
            description = "surgeon (OBS with KFAC curvature and corrections), k-obd (KFAC diagonal, no correction), "
                    + "magnitude (½w², no correction), sparsegpt (OBS with the input moments only; 2:4 and "
                    + "unstructured), llm-pruner (LLM-Pruner: Taylor importance of coupled groups, see --importance) "
                    + "or slicegpt (norms fused, residual stream rotated onto its principal directions and narrowed). "
                    + "Default: ${DEFAULT-VALUE}.")
    String method = "surgeon";

    @Option(names = "--strategy", paramLabel = "NAME",
            description = "llm-pruner: blocks (attention heads, a key/value head with its query heads, and MLP "
                    + "channels of the blocks in --layers), query-heads (GQA: single query heads, the same number "
                    + "from every key/value group, and MLP channels) or channels (hidden features of the whole "
                    + "model: embedding column, norm entries, every stream reader's input column and writer's "
                    + "output row, head column; one narrower hidden_size, a stock-shaped model). Default: blocks.")
    String strategy;

    @Option(names = "--importance", paramLabel = "NAME",
            description = "llm-pruner: element1 (Σ|W⊙∇W|), element2 (Σ|W⊙∇W − ½W²⊙F|, F the per-window squared "
                    + "gradients), vector (|ΣW⊙∇W|), l2 (ΣW²) or random (seeded by --seed). Default: element1.")
    String importance;

    @Option(names = "--aggregation", paramLabel = "NAME",
            description = "llm-pruner: a group's score from its members' (sum, product, max, or last: o or down "
                    + "only). Default: sum.")
    String aggregation;

    @Option(names = "--layers", paramLabel = "FROM:TO",
            description = "llm-pruner: the blocks pruned, FROM inclusive to TO exclusive. Default: the reference's "
                    + "4:30 of 32 scaled to the depth, ⌊n/8⌋:n−⌊n/16⌋ (all blocks up to 7).")
    String layers;

    @Option(names = "--structure", paramLabel = "NAME",
            description = "groups (heads and MLP channels removed physically), rows-cols (rows and columns of each "
                    + "matrix, zeroed), 2:4 or unstructured (zeroed). Default: ${DEFAULT-VALUE}.")
    String structure = "groups";

    @Option(names = "--target", paramLabel = "S",
            description = "Fraction of the decoder linear weights removed in the end (default: 0.25); for llm-pruner, "
                    + "of all the model's parameters (default: 0.2); for slicegpt, of the hidden width (default: 0.25).")
    Double target;

    @Option(names = "--shots", paramLabel = "T", description = "Shots (default: 8; llm-pruner 1).")
    Integer shots;

    @Option(names = "--schedule", paramLabel = "NAME", description = "linear (s_t = t·S/T) or cosine (default: ${DEFAULT-VALUE}).")
    String schedule = "linear";

    @Option(names = "--calibration", paramLabel = "FILE", arity = "1..*", description = "Calibration text files (default: the embedded Brown train slice).")
    List<Path> calibration;

    @Option(names = "--samples", paramLabel = "N",
            description = "Calibration windows, the same every shot (default: 128, every method; LLM-Pruner's "
                    + "reference uses 10 of 64 tokens: --samples 10 --seqlen 64).")
    Integer samples;

    @Option(names = "--seqlen", paramLabel = "L", description = "Tokens per calibration window (default: 128).")
    Integer seqlen;

    @Option(names = "--sampling", paramLabel = "MODE", description = "random or sequential windows (default: ${DEFAULT-VALUE}).")
    String sampling = "random";

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the random windows (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--eval", paramLabel = "FILE", description = "Evaluation text (default: the embedded Brown valid split).")
    Path eval;

    @Option(names = "--eval-seqlen", paramLabel = "L", description = "Tokens per evaluation window (default: ${DEFAULT-VALUE}).")
    int evalSeqlen = 128;

    @Option(names = "--eval-windows", paramLabel = "K",
            description = "Windows measured after each shot (0: all); the dense and the final model are measured on all (default: ${DEFAULT-VALUE}).")
    int evalWindows = 128;

    @Option(names = "--batch", paramLabel = "B", description = "Windows per forward pass (default: ${DEFAULT-VALUE}).")
    int batch = 8;

    @Option(names = "--damp-g", paramLabel = "D", description = "Relative damping of G (default: 0.1 for 2:4 and unstructured, else 0.01).")
    Double dampG;

    @Option(names = "--damp-a", paramLabel = "D", description = "Relative damping of A (default: 0.01).")
    Double dampA;

    @Option(names = "--max-correlate", paramLabel = "N", description = "Weights corrected jointly in one chunk, 2:4 and unstructured (default: 2000).")
    Integer maxCorrelate;

    @Option(names = "--workers", paramLabel = "N", description = "Prune workers (default: lancet.prune.workers, one per core); the output does not depend on it.")
    Integer workers;

    @Option(names = "--out", paramLabel = "DIR", description = "Output directory (default: pruned/<model>-<method>-<structure>-<target>).")
    Path out;

    @Option(names = "--resume", description = "Continue a killed run in --out from its last completed shot.")
    boolean resume;

    @Option(names = "--export", paramLabel = "FORM",
            description = "shrunk (heads and channels removed) or dense (the input's shapes, zeros where groups were removed: stock HF shapes). Default: ${DEFAULT-VALUE}.")
    String export = "shrunk";

    @Option(names = "--lora-between-shots", paramLabel = "STEPS",
            description = "LoRA steps (rank 8) on the calibration windows after each shot, merged before the next "
                    + "curvature pass (0: none; default: ${DEFAULT-VALUE}).")
    int loraBetweenShots = 0;

    @Option(names = "--lora-lr", paramLabel = "LR", description = "Peak learning rate of --lora-between-shots, decaying linearly to 0 (default: ${DEFAULT-VALUE}, the reference's).")
    double loraLr = 1e-4;

    @Option(names = "--slice-head", description = "slicegpt: slice the head's input too (default: kept whole, as the reference).")
    boolean sliceHead;

    @Option(names = "--job", paramLabel = "FILE.conf",
            description = "HOCON job file whose keys are flag names without dashes (target = 0.5); flags given here override it. Examples in conf/jobs/.")
    Path job;

    @CommandLine.Spec(CommandLine.Spec.Target.MIXEE)
    CommandLine.Model.CommandSpec command;

    /** Options parsed alone, outside a command (job files, requests). */
    @Command(name = "prune-options")
    private static final class Holder {
        @Mixin
        PruneOptions options = new PruneOptions();
    }

    /** These options with the job file's keys under them (flags given on the command line win); no job file: these. */
    PruneOptions withJobFile() {
        if (job == null) {
            return this;
        }
        if (!Files.isRegularFile(job)) {
            throw new CheckpointException(job, "job file not found");
        }
        List<String> args = new ArrayList<>();
        try {
            Config config = ConfigFactory.parseFile(job.toFile()).resolve();
            for (Map.Entry<String, ConfigValue> e : config.entrySet()) {
                if (e.getKey().equals("job")) {
                    throw new CheckpointException(job, "a job file cannot name another job file");
                }
                Object value = e.getValue().unwrapped();
                if (value instanceof Boolean b) {
                    if (b) {
                        args.add("--" + e.getKey());
                    }
                    continue;
                }
                args.add("--" + e.getKey());
                if (value instanceof List<?> list) {
                    list.forEach(v -> args.add(v.toString()));
                } else {
                    args.add(value.toString());
                }
            }
        } catch (ConfigException e) {
            throw new CheckpointException(job, "invalid job file: " + e.getMessage());
        }
        Holder merged = new Holder();
        CommandLine line = new CommandLine(merged);
        try {
            line.parseArgs(args.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new CheckpointException(job, e.getMessage());
        }
        // flags given on the command line win over the file's
        CommandLine.ParseResult given = command.commandLine().getParseResult();
        for (CommandLine.Model.OptionSpec option : line.getCommandSpec().options()) {
            if (given.hasMatchedOption(option.longestName())) {
                option.setValue(command.findOption(option.longestName()).getValue());
            }
        }
        return merged.options;
    }

    /**
     * The job these options describe; {@code defaultOut} names the output directory when --out is not given.
     *
     * @throws IllegalArgumentException for a value outside its range or an unknown name
     */
    PruneJob.Spec toSpec(Path defaultOut) {
        if (slices()) {
            throw new IllegalArgumentException("--method " + SLICEGPT + " is not a multi-shot pruning job");
        }
        boolean llmPruner = llmPruner();
        return new PruneJob.Spec(modelOrDefault(), llmPruner ? null : settings(), llmPruner ? taylor() : null,
                target(), shots != null ? shots : llmPruner ? 1 : 8, parse(Schedule.class, "--schedule", schedule),
                calibration != null ? calibration : List.of(Defaults.calibrationText()), samples(), seqlen(),
                parse(Sampling.class, "--sampling", sampling), seed, eval != null ? eval : Defaults.evalText(),
                evalSeqlen, evalWindows, batch, out != null ? out : defaultOut, resume,
                workers != null ? workers : PruneJob.defaultWorkers(), parse(PruneJob.Export.class, "--export", export),
                null, loraBetweenShots());
    }

    private PruneJob.LoraBetweenShots loraBetweenShots() {
        if (loraBetweenShots < 0) {
            throw new IllegalArgumentException("--lora-between-shots must be >= 0 (0: none), got " + loraBetweenShots);
        }
        return loraBetweenShots == 0 ? null : new PruneJob.LoraBetweenShots(loraBetweenShots, loraLr);
    }

    private PruneSettings settings() {
        if (strategy != null || importance != null || aggregation != null || layers != null) {
            throw new IllegalArgumentException("--strategy, --importance, --aggregation and --layers apply to --method "
                    + LLM_PRUNER + " only");
        }
        PruneSettings defaults = PruneSettings.defaults(parse(PruneMethod.class, "--method", method),
                parse(Structure.class, "--structure", structure));
        return new PruneSettings(defaults.method(), defaults.structure(),
                new Damping(dampG != null ? dampG : defaults.damping().g(), dampA != null ? dampA : defaults.damping().a()),
                maxCorrelate != null ? maxCorrelate : defaults.maxCorrelate());
    }

    private TaylorSettings taylor() {
        if (!structure.equals("groups")) {
            throw new IllegalArgumentException(LLM_PRUNER + " removes coupled groups (--structure groups), not "
                    + structure);
        }
        return new TaylorSettings(parse(Strategy.class, "--strategy", strategy != null ? strategy : "blocks"),
                parse(Importance.class, "--importance", importanceName()),
                parse(Aggregation.class, "--aggregation", aggregation != null ? aggregation : "sum"),
                layers != null ? LayerRange.parse(layers) : null, seed);
    }

    /** The method's own defaults where a flag is not given: LLM-Pruner's are the reference's. */
    private double target() {
        return target != null ? target : llmPruner() ? 0.2 : 0.25;
    }

    /**
     * Every method's calibration: 128 windows of 128 tokens. For LLM-Pruner too, whose reference draws 10 of 64: its
     * first-order scores vary with the draw, and this budget makes them do less damage (BENCHMARKS.md, LLM-Pruner).
     */
    private int samples() {
        return samples != null ? samples : 128;
    }

    private int seqlen() {
        return seqlen != null ? seqlen : 128;
    }

    /** Whether these options ask for SliceGPT, which {@link SliceJob} runs instead of {@link PruneJob}. */
    boolean slices() {
        return method.equals(SLICEGPT);
    }

    boolean llmPruner() {
        return method.equals(LLM_PRUNER);
    }

    /** The SliceGPT job these options describe (the flags of multi-shot pruning do not apply). */
    SliceJob.Spec toSliceSpec(Path defaultOut) {
        return new SliceJob.Spec(modelOrDefault(), target(), sliceHead,
                calibration != null ? calibration : List.of(Defaults.calibrationText()), samples(), seqlen(),
                parse(Sampling.class, "--sampling", sampling), seed, eval != null ? eval : Defaults.evalText(),
                evalSeqlen, batch, out != null ? out : defaultOut, resume);
    }

    Path modelOrDefault() {
        return model != null ? model : Defaults.model();
    }

    /** Where {@code lancet prune} writes without --out: pruned/<model>-<method>-<structure>-<target %>. */
    Path defaultOut() {
        return Path.of("pruned", String.format(Locale.ROOT, "%s-%s-%s-%d",
                modelOrDefault().toAbsolutePath().normalize().getFileName(), method,
                slices() ? "residual" : llmPruner() ? llmPrunerName() : structure.replace(":", ""),
                Math.round(100 * target())));
    }

    /** The importance, and the strategy unless it is the default blocks: "element1", "element1-channels". */
    private String llmPrunerName() {
        return importanceName() + (strategy == null || strategy.equals("blocks") ? "" : "-" + strategy);
    }

    private String importanceName() {
        return importance != null ? importance : "element1";
    }

    /** The request {@code lancet client submit} sends: every flag as given, the paths unresolved. */
    PruneRequest toRequest() {
        PruneRequest.Builder r = PruneRequest.newBuilder().setMethod(method).setStructure(structure)
                .setSchedule(schedule).setSampling(sampling).setSeed(seed).setEvalSeqlen(evalSeqlen)
                .setEvalWindows(evalWindows).setBatch(batch).setResume(resume).setExport(export).setSliceHead(sliceHead)
                .setLoraBetweenShots(loraBetweenShots).setLoraLr(loraLr);
        if (target != null) {
            r.setTarget(target);
        }
        if (shots != null) {
            r.setShots(shots);
        }
        if (samples != null) {
            r.setSamples(samples);
        }
        if (seqlen != null) {
            r.setSeqlen(seqlen);
        }
        if (strategy != null) {
            r.setStrategy(strategy);
        }
        if (importance != null) {
            r.setImportance(importance);
        }
        if (aggregation != null) {
            r.setAggregation(aggregation);
        }
        if (layers != null) {
            r.setLayers(layers);
        }
        if (model != null) {
            r.setModel(model.toString());
        }
        if (calibration != null) {
            calibration.forEach(f -> r.addCalibration(f.toString()));
        }
        if (eval != null) {
            r.setEval(eval.toString());
        }
        if (out != null) {
            r.setOut(out.toString());
        }
        if (dampG != null) {
            r.setDampG(dampG);
        }
        if (dampA != null) {
            r.setDampA(dampA);
        }
        if (maxCorrelate != null) {
            r.setMaxCorrelate(maxCorrelate);
        }
        if (workers != null) {
            r.setWorkers(workers);
        }
        return r.build();
    }

    /**
     * The job a request describes, checked as {@code lancet prune} checks its flags; {@code resolve} turns each path
     * string into a path (the daemon confines them to its roots).
     */
    public static JobSpec specOf(PruneRequest r, BiFunction<String, String, Path> resolve, Path defaultOut) {
        PruneOptions o = new PruneOptions();
        o.model = r.hasModel() ? resolve.apply("model", r.getModel()) : null;
        o.method = r.hasMethod() ? r.getMethod() : o.method;
        o.structure = r.hasStructure() ? r.getStructure() : o.structure;
        o.target = r.hasTarget() ? Double.valueOf(r.getTarget()) : null;
        o.shots = r.hasShots() ? Integer.valueOf(r.getShots()) : null;
        o.schedule = r.hasSchedule() ? r.getSchedule() : o.schedule;
        o.calibration = r.getCalibrationCount() > 0 ? r.getCalibrationList().stream().map(f -> resolve.apply("calibration", f)).toList() : null;
        o.samples = r.hasSamples() ? Integer.valueOf(r.getSamples()) : null;
        o.seqlen = r.hasSeqlen() ? Integer.valueOf(r.getSeqlen()) : null;
        o.sampling = r.hasSampling() ? r.getSampling() : o.sampling;
        o.seed = r.hasSeed() ? r.getSeed() : o.seed;
        o.eval = r.hasEval() ? resolve.apply("eval", r.getEval()) : null;
        o.evalSeqlen = r.hasEvalSeqlen() ? r.getEvalSeqlen() : o.evalSeqlen;
        o.evalWindows = r.hasEvalWindows() ? r.getEvalWindows() : o.evalWindows;
        o.batch = r.hasBatch() ? r.getBatch() : o.batch;
        o.dampG = r.hasDampG() ? r.getDampG() : null;
        o.dampA = r.hasDampA() ? r.getDampA() : null;
        o.maxCorrelate = r.hasMaxCorrelate() ? r.getMaxCorrelate() : null;
        o.workers = r.hasWorkers() ? r.getWorkers() : null;
        o.out = r.hasOut() ? resolve.apply("out", r.getOut()) : null;
        o.resume = r.getResume();
        o.export = r.hasExport() ? r.getExport() : o.export;
        o.strategy = r.hasStrategy() ? r.getStrategy() : null;
        o.importance = r.hasImportance() ? r.getImportance() : null;
        o.aggregation = r.hasAggregation() ? r.getAggregation() : null;
        o.layers = r.hasLayers() ? r.getLayers() : null;
        o.sliceHead = r.getSliceHead();
        o.loraBetweenShots = r.getLoraBetweenShots();
        o.loraLr = r.hasLoraLr() ? r.getLoraLr() : o.loraLr;
        return o.slices() ? o.toSliceSpec(defaultOut) : o.toSpec(defaultOut);
    }

    /** "k-obd" → K_OBD, "2:4" → SEMI_2_4, "rows-cols" → ROWS_COLS; the flag's name in the error otherwise. */
    static <E extends Enum<E>> E parse(Class<E> type, String flag, String value) {
        String name = value.equals("2:4") ? "SEMI_2_4" : value.toUpperCase(Locale.ROOT).replace('-', '_');
        try {
            return Enum.valueOf(type, name);
        } catch (IllegalArgumentException e) {
            List<String> names = new ArrayList<>();
            for (E constant : type.getEnumConstants()) {
                names.add(constant == (Object) Structure.SEMI_2_4 ? "2:4"
                        : constant.name().toLowerCase(Locale.ROOT).replace('_', '-'));
            }
            if (type == PruneMethod.class) {
                names.add(LLM_PRUNER);
                names.add(SLICEGPT);
            }
            throw new IllegalArgumentException(flag + " must be one of " + String.join(", ", names) + ", got '"
                    + value + "'");
        }
    }
}
