/*
 * The 'orders' benchmark for Apache Paimon's Java core 0.9, timed inside the JVM.
 *
 * Driven through py4j by tools/bench_orders/java_orders.py, which compiles this file with javac
 * against the Paimon 0.9 bridge jar of pypaimon==0.2.0 (see tools/oracle/). One call,
 * OrdersBench.run(argsJson), does everything and returns one JSON object (a string), so no row
 * ever crosses py4j: the commits' rows come from Arrow IPC stream files that java_orders.py
 * wrote from the workload's Parquet files (tools/bench_orders/orders_files.rs).
 *
 * Phases (the design notes are in the docstring of tools/bench_orders/java_orders.py):
 *   W1  one commit of +I rows per W1 file on a fresh table
 *   W2  one commit per W2 file (upserts: keys are random in 1..4M)
 *   R1  full merged batch read of the latest snapshot
 *   C1  a dedicated full compaction of every bucket (fresh writer), committed
 *   R2  the full read again after C1 (same rows, no merge left)
 * then, untimed, the row count and checksum of the final table.
 * Writes use ONE StreamWriteBuilder / StreamTableWrite / StreamTableCommit for W1 and W2 with
 * commit identifiers 1..N (what a Flink job does: the writer, its buckets' levels and its async
 * compaction state live across commits). Each commit's file is loaded into a list of rows before
 * its write+commit timing starts.
 */
package shoal.bench;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.paimon.Snapshot;
import org.apache.paimon.arrow.ArrowUtils;
import org.apache.paimon.arrow.reader.ArrowBatchReader;
import org.apache.paimon.catalog.Catalog;
import org.apache.paimon.catalog.CatalogContext;
import org.apache.paimon.catalog.CatalogFactory;
import org.apache.paimon.catalog.Identifier;
import org.apache.paimon.data.BinaryRow;
import org.apache.paimon.data.InternalRow;
import org.apache.paimon.data.serializer.InternalRowSerializer;
import org.apache.paimon.disk.IOManager;
import org.apache.paimon.io.DataFileMeta;
import org.apache.paimon.options.Options;
import org.apache.paimon.reader.RecordReader;
import org.apache.paimon.schema.Schema;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.table.sink.CommitMessage;
import org.apache.paimon.table.sink.CommitMessageImpl;
import org.apache.paimon.table.sink.StreamTableCommit;
import org.apache.paimon.table.sink.StreamTableWrite;
import org.apache.paimon.table.sink.StreamWriteBuilder;
import org.apache.paimon.table.source.DataSplit;
import org.apache.paimon.table.source.ReadBuilder;
import org.apache.paimon.table.source.Split;
import org.apache.paimon.table.source.TableRead;
import org.apache.paimon.types.DataField;
import org.apache.paimon.types.DataType;
import org.apache.paimon.types.DataTypes;
import org.apache.paimon.types.DecimalType;
import org.apache.paimon.types.RowType;
import org.apache.paimon.types.TimestampType;

import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public class OrdersBench {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    /**
     * Loads one commit's rows from an Arrow IPC stream file, after checking that its columns are
     * exactly the table's (names, and the Arrow types and nullability Paimon maps the table's
     * types to). The rows are copied out of the Arrow vectors, which are freed on return.
     */
    static List<InternalRow> loadCommit(String path, RowType rowType, BufferAllocator allocator)
            throws Exception {
        List<InternalRow> rows = new ArrayList<>();
        try (ArrowStreamReader reader =
                new ArrowStreamReader(new FileInputStream(path), allocator)) {
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            List<Field> expected = new ArrayList<>();
            for (DataField f : rowType.getFields()) {
                expected.add(ArrowUtils.toArrowField(f.name(), f.type()));
            }
            if (!root.getSchema().getFields().equals(expected)) {
                throw new IllegalArgumentException(path + ": columns " + root.getSchema()
                        .getFields() + " are not the table's " + expected);
            }
            ArrowBatchReader convert = new ArrowBatchReader(rowType);
            InternalRowSerializer serializer = new InternalRowSerializer(rowType);
            while (reader.loadNextBatch()) {
                // The converter's rows are views of the vectors: keep a BinaryRow copy of each.
                for (InternalRow r : convert.readBatch(root)) {
                    rows.add(serializer.toBinaryRow(r).copy());
                }
            }
        }
        return rows;
    }

    /**
     * Row count and checksum of every merged row of the table's latest snapshot: the sum mod
     * 2^64 of FNV-1a 64 over the UTF-8 bytes of each row's canonical text, the definition in
     * tools/bench_orders/orders_files.rs (values in column order joined by '|'; INT / BIGINT
     * decimal, STRING as is, DECIMAL(p, s) plain with s fraction digits, TIMESTAMP(3) epoch
     * milliseconds, null \N). Returns {rows, checksum}.
     */
    static long[] checksum(FileStoreTable table) throws Exception {
        List<DataType> types = table.rowType().getFieldTypes();
        ReadBuilder rb = table.newReadBuilder();
        TableRead read = rb.newRead();
        long[] acc = new long[2];
        StringBuilder text = new StringBuilder();
        for (Split split : rb.newScan().plan().splits()) {
            try (RecordReader<InternalRow> reader = read.createReader(split)) {
                reader.forEachRemaining(row -> {
                    text.setLength(0);
                    for (int i = 0; i < types.size(); i++) {
                        if (i > 0) {
                            text.append('|');
                        }
                        appendCanonical(text, row, i, types.get(i));
                    }
                    long h = 0xcbf29ce484222325L;
                    for (byte b : text.toString().getBytes(StandardCharsets.UTF_8)) {
                        h = (h ^ (b & 0xff)) * 0x100000001b3L;
                    }
                    acc[0]++;
                    acc[1] += h;
                });
            }
        }
        return acc;
    }

    /** A value's canonical text (see checksum); only the orders table's types have one. */
    private static void appendCanonical(StringBuilder out, InternalRow row, int i, DataType t) {
        if (row.isNullAt(i)) {
            out.append("\\N");
            return;
        }
        switch (t.getTypeRoot()) {
            case INTEGER:
                out.append(row.getInt(i));
                break;
            case BIGINT:
                out.append(row.getLong(i));
                break;
            case VARCHAR:
                out.append(row.getString(i).toString());
                break;
            case DECIMAL:
                DecimalType d = (DecimalType) t;
                out.append(row.getDecimal(i, d.getPrecision(), d.getScale())
                        .toBigDecimal().toPlainString());
                break;
            case TIMESTAMP_WITHOUT_TIME_ZONE:
                if (((TimestampType) t).getPrecision() != 3) {
                    throw new IllegalArgumentException("no canonical text defined for " + t);
                }
                out.append(row.getTimestamp(i, 3).getMillisecond());
                break;
            default:
                throw new IllegalArgumentException("no canonical text defined for " + t);
        }
    }

    /** Samples Runtime heap usage (used = total - free) every few milliseconds. */
    static final class HeapSampler extends Thread {
        volatile boolean running = true;
        volatile long peak = 0;

        HeapSampler() {
            super("orders-bench-heap-sampler");
            setDaemon(true);
        }

        void sample() {
            Runtime rt = Runtime.getRuntime();
            long used = rt.totalMemory() - rt.freeMemory();
            if (used > peak) {
                peak = used;
            }
        }

        @Override
        public void run() {
            while (running) {
                sample();
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    private static void log(String s) {
        System.err.println("[orders-bench] " + s);
        System.err.flush();
    }

    private static double secs(long nanos) {
        return nanos / 1e9;
    }

    private static double round(double x, int digits) {
        double m = Math.pow(10, digits);
        return Math.round(x * m) / m;
    }

    private static FileStoreTable createTable(
            String warehouse, String db, String name, Map<String, String> extraOptions)
            throws Exception {
        Map<String, String> m = new HashMap<>();
        m.put("warehouse", warehouse);
        Catalog catalog = CatalogFactory.createCatalog(CatalogContext.create(new Options(m)));
        Identifier id = Identifier.create(db, name);
        if (catalog.tableExists(id)) {
            throw new IllegalStateException("table " + db + "." + name + " already exists in "
                    + warehouse + ": the benchmark needs a fresh table");
        }
        catalog.createDatabase(db, true);
        Schema.Builder b = Schema.newBuilder()
                .column("order_id", DataTypes.BIGINT().notNull())
                .column("order_name", DataTypes.STRING())
                .column("order_user_id", DataTypes.BIGINT())
                .column("order_shop_id", DataTypes.BIGINT())
                .column("order_product_id", DataTypes.BIGINT())
                .column("order_fee", DataTypes.DECIMAL(20, 2))
                .column("order_create_time", DataTypes.TIMESTAMP(3))
                .column("order_update_time", DataTypes.TIMESTAMP(3))
                .column("order_state", DataTypes.INT())
                .primaryKey("order_id")
                .option("bucket", "4")
                .option("file.format", "parquet");
        for (Map.Entry<String, String> e : extraOptions.entrySet()) {
            b.option(e.getKey(), e.getValue());
        }
        catalog.createTable(id, b.build(), false);
        return (FileStoreTable) catalog.getTable(id);
    }

    /** Reads order_id and order_state of every row: {rows, sum(order_id), sum(order_state)}. */
    private static long[] readAll(ReadBuilder rb, List<Split> splits) throws Exception {
        TableRead read = rb.newRead();
        long[] acc = new long[3];
        for (Split split : splits) {
            try (RecordReader<InternalRow> reader = read.createReader(split)) {
                reader.forEachRemaining(row -> {
                    acc[0]++;
                    acc[1] += row.getLong(0);
                    acc[2] += row.isNullAt(8) ? 0 : row.getInt(8);
                });
            }
        }
        return acc;
    }

    /**
     * Full compaction of every bucket by a fresh writer (what a dedicated compaction job does),
     * waited for and committed: returns {rows read, bytes read, bytes written}, from the
     * compaction's before and after files.
     */
    private static long[] fullCompaction(
            FileStoreTable table, StreamWriteBuilder builder, String ioDir, long identifier)
            throws Exception {
        long[] out = new long[3];
        IOManager io = IOManager.create(ioDir);
        StreamTableWrite write = builder.newWrite();
        write.withIOManager(io);
        StreamTableCommit commit = builder.newCommit();
        try {
            int buckets = Integer.parseInt(table.options().get("bucket"));
            for (int b = 0; b < buckets; b++) {
                write.compact(BinaryRow.EMPTY_ROW, b, true);
            }
            List<CommitMessage> messages = write.prepareCommit(true, identifier);
            for (CommitMessage m : messages) {
                CommitMessageImpl mi = (CommitMessageImpl) m;
                for (DataFileMeta f : mi.compactIncrement().compactBefore()) {
                    out[0] += f.rowCount();
                    out[1] += f.fileSize();
                }
                for (DataFileMeta f : mi.compactIncrement().compactAfter()) {
                    out[2] += f.fileSize();
                }
            }
            commit.commit(identifier, messages);
        } finally {
            write.close();
            commit.close();
            io.close();
        }
        return out;
    }

    /** One write phase: one commit per file (Arrow IPC) through the shared writer. */
    private static ObjectNode writePhase(
            String label, List<String> files, RowType rowType, BufferAllocator allocator,
            StreamTableWrite write, StreamTableCommit commit, long[] nextIdentifier,
            String waitMode, HeapSampler sampler)
            throws Exception {
        ObjectNode o = MAPPER.createObjectNode();
        ArrayNode perCommit = MAPPER.createArrayNode();
        long loadNanos = 0, writeNanos = 0, commitNanos = 0, rows = 0;
        int commits = files.size();
        for (int c = 0; c < commits; c++) {
            long g0 = System.nanoTime();
            List<InternalRow> batch = loadCommit(files.get(c), rowType, allocator);
            long t0 = System.nanoTime();
            loadNanos += t0 - g0;
            for (InternalRow r : batch) {
                write.write(r);
            }
            boolean last = c == commits - 1;
            boolean wait = "every".equals(waitMode) || ("phase-end".equals(waitMode) && last);
            long identifier = nextIdentifier[0]++;
            List<CommitMessage> messages = write.prepareCommit(wait, identifier);
            long t1 = System.nanoTime();
            commit.commit(identifier, messages);
            long t2 = System.nanoTime();
            writeNanos += t1 - t0;
            commitNanos += t2 - t1;
            rows += batch.size();
            perCommit.add(round(secs(t2 - t0), 4));
            batch = null;
            sampler.sample();
            log(String.format("%s commit %d/%d (id %d): %.3f s write+prepare, %.3f s commit",
                    label, c + 1, commits, identifier, secs(t1 - t0), secs(t2 - t1)));
        }
        double s = secs(writeNanos + commitNanos);
        o.put("rows", rows);
        o.put("seconds", round(s, 4));
        o.put("rows_per_s", s > 0 ? Math.round(rows / s) : 0);
        o.put("load_seconds", round(secs(loadNanos), 4));
        o.put("write_prepare_seconds", round(secs(writeNanos), 4));
        o.put("commit_seconds", round(secs(commitNanos), 4));
        o.set("commit_seconds_each", perCommit);
        return o;
    }

    private static List<String> textList(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    /**
     * argsJson: {"warehouse", "db", "name", "w1_files": [Arrow IPC path, ...], "w2_files": [...],
     * "options": {k: v}, "io_tmp_dir", "wait_compaction": "phase-end"|"every"|"never"}.
     */
    public static String run(String argsJson) throws Exception {
        JsonNode a = MAPPER.readTree(argsJson);
        String warehouse = a.get("warehouse").asText();
        String db = a.get("db").asText();
        String name = a.get("name").asText();
        List<String> w1Files = textList(a.get("w1_files"));
        List<String> w2Files = textList(a.get("w2_files"));
        String waitMode = a.path("wait_compaction").asText("phase-end");
        Map<String, String> extra = new TreeMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = a.path("options").fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            extra.put(e.getKey(), e.getValue().asText());
        }

        HeapSampler sampler = new HeapSampler();
        System.gc();
        long heapBaseline;
        {
            Runtime rt = Runtime.getRuntime();
            heapBaseline = rt.totalMemory() - rt.freeMemory();
        }
        sampler.start();

        FileStoreTable table = createTable(warehouse, db, name, extra);
        RowType rowType = table.rowType();
        BufferAllocator allocator = new RootAllocator();

        // ---- W1 + W2: one stream writer / committer, commit identifiers 1..N
        StreamWriteBuilder builder = table.newStreamWriteBuilder();
        IOManager io = IOManager.create(a.get("io_tmp_dir").asText());
        StreamTableWrite write = builder.newWrite();
        write.withIOManager(io);
        StreamTableCommit commit = builder.newCommit();
        long[] nextId = {1};
        ObjectNode w1, w2;
        long closeNanos;
        try {
            w1 = writePhase("W1", w1Files, rowType, allocator, write, commit, nextId, waitMode,
                    sampler);
            w2 = writePhase("W2", w2Files, rowType, allocator, write, commit, nextId, waitMode,
                    sampler);
        } finally {
            long c0 = System.nanoTime();
            write.close();
            commit.close();
            io.close();
            allocator.close();
            closeNanos = System.nanoTime() - c0;
        }

        // ---- R1: full merged batch read of the latest snapshot
        FileStoreTable readTable = table;
        long r0 = System.nanoTime();
        ReadBuilder rb = readTable.newReadBuilder();
        List<Split> splits = rb.newScan().plan().splits();
        long r1 = System.nanoTime();
        long[] acc = readAll(rb, splits);
        long r2 = System.nanoTime();

        // ---- C1: a dedicated full compaction of every bucket (a fresh writer, as a compaction
        // job has), committed; then R2: the full read again, now without merging.
        long c0 = System.nanoTime();
        long[] compacted = fullCompaction(table, builder, a.get("io_tmp_dir").asText(), nextId[0]++);
        long c1 = System.nanoTime();
        ReadBuilder rb2 = table.newReadBuilder();
        long[] acc2 = readAll(rb2, rb2.newScan().plan().splits());
        long c2 = System.nanoTime();
        sampler.sample();
        sampler.running = false;
        sampler.join();
        if (acc2[0] != acc[0] || acc2[1] != acc[1] || acc2[2] != acc[2]) {
            throw new IllegalStateException("rows after the full compaction differ from before");
        }
        long[] last = checksum(table);

        // ---- table facts
        int dataFiles = 0;
        TreeMap<Integer, Integer> levels = new TreeMap<>();
        for (Split s : splits) {
            for (DataFileMeta f : ((DataSplit) s).dataFiles()) {
                dataFiles++;
                levels.merge(f.level(), 1, Integer::sum);
            }
        }
        Snapshot latest = readTable.snapshotManager().latestSnapshot();
        int appends = 0, compacts = 0, retained = 0;
        Iterator<Snapshot> snaps = readTable.snapshotManager().snapshots();
        while (snaps.hasNext()) {
            Snapshot s = snaps.next();
            retained++;
            if (s.commitKind() == Snapshot.CommitKind.COMPACT) {
                compacts++;
            } else {
                appends++;
            }
        }

        double r1s = secs(r2 - r0);
        ObjectNode out = MAPPER.createObjectNode();
        out.put("impl", "java-paimon-0.9");
        out.put("w1_rows", w1.get("rows").asLong());
        out.put("w1_seconds", w1.get("seconds").asDouble());
        out.put("w1_rows_per_s", w1.get("rows_per_s").asLong());
        out.put("w2_rows", w2.get("rows").asLong());
        out.put("w2_seconds", w2.get("seconds").asDouble());
        out.put("w2_rows_per_s", w2.get("rows_per_s").asLong());
        out.put("r1_rows", acc[0]);
        out.put("r1_seconds", round(r1s, 4));
        out.put("r1_rows_per_s", r1s > 0 ? Math.round(acc[0] / r1s) : 0);
        double c1s = secs(c1 - c0), r2s = secs(c2 - c1);
        out.put("c1_seconds", round(c1s, 4));
        out.put("c1_rows_read", compacted[0]);
        out.put("c1_mb_read", round(compacted[1] / 1e6, 2));
        out.put("c1_mb_written", round(compacted[2] / 1e6, 2));
        out.put("c1_rows_per_s", Math.round(compacted[0] / c1s));
        out.put("c1_mb_per_s", round(compacted[1] / 1e6 / c1s, 1));
        out.put("r2_seconds", round(r2s, 4));
        out.put("r2_rows_per_s", Math.round(acc2[0] / r2s));
        out.put("snapshots", latest == null ? 0 : latest.id());
        out.put("data_files_after", dataFiles);
        out.put("final_rows", last[0]);
        out.put("final_checksum", String.format("%016x", last[1]));
        out.put("heap_used_mb_peak", round(sampler.peak / 1048576.0, 1));
        // extras
        out.put("heap_used_mb_baseline", round(heapBaseline / 1048576.0, 1));
        out.put("heap_max_mb", round(Runtime.getRuntime().maxMemory() / 1048576.0, 1));
        out.put("r1_plan_seconds", round(secs(r1 - r0), 4));
        out.put("r1_splits", splits.size());
        out.put("r1_order_id_sum", acc[1]);
        out.put("r1_order_state_sum", acc[2]);
        out.put("writer_close_seconds", round(secs(closeNanos), 4));
        out.put("snapshots_append", appends);
        out.put("snapshots_compact", compacts);
        out.put("snapshots_retained", retained);
        out.put("total_record_count", latest == null ? 0 : latest.totalRecordCount());
        ObjectNode lv = MAPPER.createObjectNode();
        for (Map.Entry<Integer, Integer> e : levels.entrySet()) {
            lv.put(Integer.toString(e.getKey()), e.getValue());
        }
        out.set("data_files_by_level", lv);
        out.set("w1", w1);
        out.set("w2", w2);
        ObjectNode cfg = MAPPER.createObjectNode();
        cfg.put("w1_commits", w1Files.size());
        cfg.put("w2_commits", w2Files.size());
        cfg.put("builder", "StreamWriteBuilder");
        cfg.put("wait_compaction", waitMode);
        ObjectNode opts = MAPPER.createObjectNode();
        for (Map.Entry<String, String> e : readTable.options().entrySet()) {
            opts.put(e.getKey(), e.getValue());
        }
        cfg.set("table_options", opts);
        cfg.put("available_processors", Runtime.getRuntime().availableProcessors());
        cfg.put("java_version", System.getProperty("java.version"));
        out.set("config", cfg);
        return MAPPER.writeValueAsString(out);
    }
}
