"""The peers' TensorFlow op lists, as facts (``tfconv ops --compare`` reads them).

Source: ``MO_REFERENCE.md`` (the team's notes on OpenVINO's converters), section 1.2 for the legacy
Model Optimizer 2024.6 TF frontend (213 op-type strings: extractors, built-ins and the ops only
its replacers consume) and appendix A for the modern frontend behind ``ovc``
(``supported_ops.md`` at OpenVINO commit 0226e5687ce7: 318 ops marked YES).

``NOT_TRANSLATED`` names the op types tfconv deliberately has no translator for, with the reason.
"""
from __future__ import annotations

MO = frozenset({
    "Abs", "Acos", "Acosh", "Add", "AddN", "AddV2", "All", "Any", "ArgMax", "ArgMin", "Asin",
    "Asinh", "Assert", "Assign", "AssignAdd", "AssignSub", "Atan", "Atanh", "AvgPool",
    "AvgPool3D", "AvgPoolV2", "BatchMatMul", "BatchMatMulV2", "BatchToSpaceND", "BiasAdd",
    "BlockLSTM", "BroadcastTo", "Bucketize", "Cast", "Ceil", "ClipByValue", "Complex", "Concat",
    "ConcatV2", "Const", "Conv2D", "Conv2DBackpropInput", "Conv3D", "Conv3DBackpropInputV2",
    "Cos", "Cosh", "CropAndResize", "CTCGreedyDecoder", "CTCLoss", "Cumsum", "DepthToSpace",
    "DepthwiseConv2dNative", "Einsum", "Elu", "EmptyTensorList", "Enter", "Equal", "Erf",
    "EuclideanNorm", "Exit", "Exp", "ExpandDims", "ExtractImagePatches", "Eye",
    "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel", "FFT", "FFT2D", "FFT3D",
    "FIFOQueueV2", "Fill", "Floor", "FloorDiv", "FloorMod", "FusedBatchNorm",
    "FusedBatchNormV2", "FusedBatchNormV3", "Gather", "GatherNd", "GatherTree", "GatherV2",
    "Greater", "GreaterEqual", "GRUBlockCell", "Identity", "IdentityN", "If", "IFFT", "IFFT2D",
    "IFFT3D", "IRFFT", "IRFFT2D", "IRFFT3D", "IteratorGetNext", "LeakyRelu", "Less",
    "LessEqual", "Log", "Log1p", "LogicalAnd", "LogicalNot", "LogicalOr", "LogSoftmax",
    "LookupTableInsert", "LookupTableInsertV2", "LoopCond", "LRN", "MatMul", "Max", "Maximum",
    "MaxPool", "MaxPool3D", "MaxPoolV2", "Mean", "Merge", "Min", "Minimum", "MirrorPad", "Mish",
    "Mod", "Mul", "Neg", "NextIteration", "NonMaxSuppressionV2", "NonMaxSuppressionV3",
    "NonMaxSuppressionV4", "NonMaxSuppressionV5", "NoOp", "NotEqual", "OneHot", "Pack", "Pad",
    "PadV2", "Placeholder", "PlaceholderWithDefault", "Pow", "Prod", "QueueDequeue",
    "QueueDequeueManyV2", "QueueDequeueUpToV2", "QueueDequeueV2", "RandomUniform",
    "RandomUniformInt", "Range", "Rank", "ReadVariableOp", "RealDiv", "Reciprocal", "Relu",
    "Relu6", "Reshape", "ResizeBilinear", "ResizeNearestNeighbor", "ResourceGather",
    "ReverseSequence", "ReverseV2", "RFFT", "RFFT2D", "RFFT3D", "Roll", "Round", "Rsqrt",
    "ScatterNd", "Select", "SelectV2", "Shape", "Sigmoid", "Sign", "Sin", "Sinh", "Size",
    "Slice", "Softmax", "Softplus", "Softsign", "SpaceToBatchND", "SpaceToDepth",
    "SparseFillEmptyRows", "SparseReshape", "SparseSegmentMean", "SparseSegmentSqrtN",
    "SparseSegmentSum", "SparseToDense", "Split", "SplitV", "Sqrt", "Square",
    "SquaredDifference", "Squeeze", "StatelessIf", "StatelessWhile", "StopGradient",
    "StridedSlice", "Sub", "Sum", "Swish", "swish_f32", "Switch", "Tan", "Tanh",
    "TensorArrayGatherV3", "TensorArrayReadV3", "TensorArrayScatterV3", "TensorArraySizeV3",
    "TensorArrayV3", "TensorArrayWriteV3", "TensorListPushBack", "Tile", "TopK", "TopKV2",
    "Transpose", "Unique", "Unpack", "Variable", "VariableV2", "Where", "While", "ZerosLike"
})

OVC = frozenset({
    "Abs", "Acos", "Acosh", "Add", "AddN", "AddV2", "AdjustContrastv2", "AdjustHue",
    "AdjustSaturation", "All", "Angle", "Any", "ApproximateEqual", "ArgMax", "ArgMin", "Asin",
    "Asinh", "Assert", "Assign", "AssignAdd", "AssignAddVariableOp", "AssignSub",
    "AssignSubVariableOp", "AssignVariableOp", "Atan", "Atan2", "Atanh", "AvgPool", "AvgPool3D",
    "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "BatchMatrixInverse", "BatchToSpaceND",
    "BiasAdd", "Bincount", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BlockLSTM",
    "BroadcastArgs", "BroadcastTo", "Bucketize", "Cast", "Ceil", "CheckNumerics",
    "CheckNumericsV2", "ClipByValue", "Complex", "ComplexAbs", "Concat", "ConcatV2", "Conj",
    "ConjugateTranspose", "Const", "Conv2D", "Conv2DBackpropInput", "Conv3D",
    "Conv3DBackpropInputV2", "Cos", "Cosh", "CropAndResize", "CTCGreedyDecoder", "CTCLoss",
    "Cumsum", "DepthToSpace", "DepthwiseConv2dNative", "Div", "DivNoNan", "DynamicPartition",
    "DynamicStitch", "Einsum", "Elu", "EmptyTensorList", "EnsureShape", "Enter", "Equal", "Erf",
    "EuclideanNorm", "Exit", "Exp", "ExpandDims", "ExtractImagePatches",
    "FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel",
    "FFT", "FFT2D", "FFT3D", "FIFOQueue", "FIFOQueueV2", "Fill", "Floor", "FloorDiv",
    "FloorMod", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Gather", "GatherNd",
    "GatherV2", "Greater", "GreaterEqual", "GRUBlockCell", "HashTable", "HashTableV2",
    "HSVToRGB", "Identity", "IdentityN", "If", "IFFT", "IFFT2D", "IFFT3D", "Imag", "Inv",
    "Invert", "InvertPermutation", "IRFFT", "IRFFT2D", "IRFFT3D", "IsFinite", "IsInf", "IsNan",
    "IsVariableInitialized", "Iterator", "IteratorGetNext", "IteratorV2", "L2Loss", "LeakyRelu",
    "LeftShift", "Less", "LessEqual", "LinSpace", "ListDiff", "Log", "Log1p", "LogicalAnd",
    "LogicalNot", "LogicalOr", "LogSoftmax", "LookupTableFind", "LookupTableFindV2",
    "LookupTableImport", "LookupTableImportV2", "LookupTableInsert", "LookupTableInsertV2",
    "LookupTableSize", "LookupTableSizeV2", "LoopCond", "LRN", "MatMul", "MatrixBandPart",
    "MatrixDiag", "MatrixInverse", "Max", "Maximum", "MaxPool", "MaxPool3D", "MaxPoolV2",
    "MaxPoolWithArgmax", "Mean", "Merge", "MergeV2Checkpoints", "Min", "Minimum", "MirrorPad",
    "Mod", "Mul", "MulNoNan", "Multinomial", "MutableHashTable", "MutableHashTableV2", "Neg",
    "NextIteration", "NonMaxSuppression", "NonMaxSuppressionV2", "NonMaxSuppressionV3",
    "NonMaxSuppressionV4", "NonMaxSuppressionV5", "NoOp", "NotEqual", "OneHot",
    "OneShotIterator", "OnesLike", "Pack", "Pad", "PadV2", "ParallelDynamicStitch",
    "PartitionedCall", "Placeholder", "PlaceholderWithDefault", "Pow", "PreventGradient",
    "Prod", "QueueDequeue", "QueueDequeueMany", "QueueDequeueUpTo", "QueueDequeueUpToV2",
    "QueueDequeueV2", "RaggedTensorToSparse", "RaggedTensorToTensor", "RandomUniform",
    "RandomUniformInt", "Range", "Rank", "ReadVariableOp", "Real", "RealDiv", "Reciprocal",
    "Relu", "Relu6", "Reshape", "ResizeBilinear", "ResizeNearestNeighbor", "ResourceGather",
    "RestoreV2", "Reverse", "ReverseSequence", "ReverseV2", "RFFT", "RFFT2D", "RFFT3D",
    "RGBToHSV", "RightShift", "Rint", "Roll", "Round", "Rsqrt", "SaveV2", "ScatterNd",
    "SegmentSum", "Select", "SelectV2", "Selu", "Shape", "ShapeN", "ShardedFilename", "Sigmoid",
    "Sign", "Sin", "Sinh", "Size", "Slice", "Snapshot", "Softmax", "Softplus", "Softsign",
    "SpaceToBatchND", "SpaceToDepth", "SparseFillEmptyRows", "SparseReshape",
    "SparseSegmentMean", "SparseSegmentSum", "SparseTensorDenseAdd", "SparseTensorDenseMatMul",
    "SparseToDense", "Split", "SplitV", "Sqrt", "Square", "SquaredDifference", "Squeeze",
    "StatefulPartitionedCall", "StatelessIf", "StatelessWhile", "StaticRegexFullMatch",
    "StaticRegexReplace", "StopGradient", "StridedSlice", "StringJoin", "StringLower",
    "StringSplitV2", "StringToHashBucketFast", "Sub", "Sum", "Switch", "Tan", "Tanh",
    "TensorArrayCloseV3", "TensorArrayConcatV3", "TensorArrayGatherV3", "TensorArrayReadV3",
    "TensorArrayScatterV3", "TensorArraySizeV3", "TensorArrayV3", "TensorArrayWriteV3",
    "TensorListConcatV2", "TensorListFromTensor", "TensorListGetItem", "TensorListLength",
    "TensorListPushBack", "TensorListReserve", "TensorListResize", "TensorListSetItem",
    "TensorListStack", "TensorScatterUpdate", "Tile", "ToBool", "TopK", "TopKV2", "Transpose",
    "TruncateDiv", "TruncateMod", "Unique", "UniqueWithCounts", "Unpack", "UnravelIndex",
    "UnsortedSegmentSum", "VarHandleOp", "Variable", "VariableV2", "VarIsInitializedOp",
    "Where", "While", "Xdivy", "Xlog1py", "Xlogy", "ZerosLike"
})

# Why tfconv has no translator for these (the reason strings are what ``--compare`` and
# docs/supported_ops.md print).
STRING = ("string tensors: needs OpenVINO's separate tokenizer extension (openvino-tokenizers), "
          "not part of an IR that the plain runtime runs")
TRAINING = ("training-only: pruned before translation (losses, savers, assertions, variable "
            "updates and initialisation checks)")
LOADER = "handled by the loader before translation"
NOT_RAW = "not a TensorFlow op (no tf.raw_ops name, a contrib/Addons op or Python function)"

NOT_TRANSLATED: dict[str, str] = {
    **dict.fromkeys(["StaticRegexFullMatch", "StaticRegexReplace", "StringJoin", "StringLower",
                     "StringSplitV2", "StringToHashBucketFast"], STRING),
    **dict.fromkeys(["NoOp", "SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename",
                     "Assign", "AssignAdd", "AssignSub", "AssignVariableOp",
                     "AssignAddVariableOp", "AssignSubVariableOp", "VarIsInitializedOp",
                     "IsVariableInitialized", "CTCLoss"], TRAINING),
    **dict.fromkeys(["Variable", "VariableV2", "VarHandleOp", "ReadVariableOp"],
                    LOADER + ": variables are frozen to constants"),
    "ResourceGather": LOADER + ": a gather from a variable becomes GatherV2 of its frozen value",
    **dict.fromkeys(["PartitionedCall", "StatefulPartitionedCall"],
                    LOADER + ": function calls are inlined"),
    **dict.fromkeys(["While", "StatelessWhile", "If", "StatelessIf"],
                    LOADER + ": functional control flow is lowered to TF1 loops and conds "
                    "(functional.py)"),
    **dict.fromkeys(["Enter", "Exit", "LoopCond", "NextIteration"],
                    "handled before translation: each TF1 while frame is collapsed into one "
                    "TfconvWhileLoop node (control_flow.py), unrolled or emitted as an OpenVINO Loop"),
    **dict.fromkeys(["IteratorGetNext", "Iterator", "IteratorV2", "OneShotIterator", "FIFOQueue",
                     "FIFOQueueV2", "QueueDequeue", "QueueDequeueV2", "QueueDequeueMany",
                     "QueueDequeueManyV2", "QueueDequeueUpTo", "QueueDequeueUpToV2"],
                    LOADER + ": queue and iterator heads become IR inputs"),
    **dict.fromkeys(["AvgPoolV2", "Eye", "GatherTree", "swish_f32"], NOT_RAW),
    **dict.fromkeys(["Mish", "Swish"], NOT_RAW + "; the spelled-out activation becomes IR "
                    "Mish/Swish (passes/activations.py)"),
}
