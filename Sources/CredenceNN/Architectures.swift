import CredenceTensor

/// The convolutional networks the uncertainty and robustness literature evaluates on, with the
/// state-dict names of their usual PyTorch module trees so weights move both ways.
extension ModelSpec {
    /// LeNet-5 (LeCun et al. 1998) as it is trained today: conv(C→6, 5×5, pad 2)–ReLU–maxpool2–
    /// conv(6→16, 5×5)–ReLU–maxpool2–flatten–dense(16·h·w→120)–ReLU–dense(120→84)–ReLU–
    /// (dropout)–dense(84→classes); ReLU and max pooling instead of the original's scaled tanh
    /// and subsampling. A chain: "0.weight" … "10.bias", as the same `nn.Sequential`.
    public static func lenet5(inputShape: [Int] = [1, 28, 28], outputs: Int = 10, dropout: Float = 0) throws -> ModelSpec {
        guard inputShape.count == 3, inputShape[1] >= 12, inputShape[2] >= 12 else {
            throw ModelError.invalidSpecification("LeNet-5 needs image inputs [C, H, W] with H, W ≥ 12; got \(inputShape)")
        }
        let h = (inputShape[1] / 2 - 4) / 2, w = (inputShape[2] / 2 - 4) / 2
        var layers: [LayerSpec] = [
            .conv2d(inChannels: inputShape[0], outChannels: 6, kernel: 5, stride: 1, padding: 2, bias: true), .activation(.relu),
            .maxPool2d(kernel: 2, stride: 2),
            .conv2d(inChannels: 6, outChannels: 16, kernel: 5, stride: 1, padding: 0, bias: true), .activation(.relu),
            .maxPool2d(kernel: 2, stride: 2),
            .flatten,
            .dense(inputs: 16 * h * w, outputs: 120, bias: true), .activation(.relu),
            .dense(inputs: 120, outputs: 84, bias: true), .activation(.relu),
        ]
        if dropout > 0 { layers.append(.dropout(rate: dropout)) }
        layers.append(.dense(inputs: 84, outputs: outputs, bias: true))
        return ModelSpec(inputShape: inputShape, layers: layers)
    }

    /// ResNet-20 (He et al. 2016, the CIFAR variant) for [C, H, W] images: `resnet` with three
    /// basic blocks per stage — 19 convolutions and the classifier.
    public static func resnet20(inputShape: [Int] = [1, 28, 28], outputs: Int = 10, dropout: Float = 0) throws -> ModelSpec {
        try resnet(inputShape: inputShape, blocksPerStage: 3, widths: [16, 32, 64], outputs: outputs, dropout: dropout)
    }

    /// A CIFAR-style residual network (He et al. 2016, §4.2), depth 6n + 2 for n = `blocksPerStage`:
    /// conv(C→w₁, 3×3)–BN–ReLU, three stages of n basic blocks [conv 3×3–BN–ReLU–conv 3×3–BN,
    /// plus the shortcut, then ReLU] of widths w₁, w₂, w₃ (the first block of stages 2 and 3 has
    /// stride 2), global average pooling, (dropout), dense(w₃→classes). Shortcuts are the identity,
    /// or a projection — conv 1×1 with the block's stride, then BN ("option B") — where the shape
    /// changes. Convolutions have no bias (batch normalization follows each).
    ///
    /// Names follow the usual PyTorch CIFAR ResNet ("conv1", "bn1", "layer2.0.conv1",
    /// "layer2.0.shortcut.0", "layer2.0.shortcut.1", "linear").
    public static func resnet(inputShape: [Int] = [1, 28, 28], blocksPerStage: Int = 3, widths: [Int] = [16, 32, 64],
                              outputs: Int = 10, dropout: Float = 0) throws -> ModelSpec {
        guard inputShape.count == 3, inputShape[1] >= 4, inputShape[2] >= 4 else {
            throw ModelError.invalidSpecification("a ResNet needs image inputs [C, H, W] with H, W ≥ 4; got \(inputShape)")
        }
        guard blocksPerStage >= 1, widths.count == 3, widths.allSatisfy({ $0 >= 1 }) else {
            throw ModelError.invalidSpecification("a ResNet needs ≥ 1 block per stage and three positive stage widths; got \(blocksPerStage) and \(widths)")
        }
        var blocks: [NamedBlock] = [
            .layer("conv1", .conv2d(inChannels: inputShape[0], outChannels: widths[0], kernel: 3, stride: 1, padding: 1, bias: false)),
            .layer("bn1", .batchNorm2d(channels: widths[0])),
            .layer("relu", .activation(.relu)),
        ]
        var channels = widths[0]
        for (stage, width) in widths.enumerated() {
            let stageBlocks = (0..<blocksPerStage).map { b -> NamedBlock in
                let block = basicBlock(inChannels: channels, outChannels: width, stride: stage > 0 && b == 0 ? 2 : 1)
                channels = width
                return NamedBlock("\(b)", block)
            }
            blocks.append(NamedBlock("layer\(stage + 1)", .sequence(stageBlocks)))
        }
        blocks.append(.layer("pool", .globalAveragePool))
        if dropout > 0 { blocks.append(.layer("dropout", .dropout(rate: dropout))) }
        blocks.append(.layer("linear", .dense(inputs: channels, outputs: outputs, bias: true)))
        return ModelSpec(inputShape: inputShape, blocks: blocks)
    }

    /// conv 3×3 (stride)–BN–ReLU–conv 3×3–BN, plus the shortcut, then ReLU.
    static func basicBlock(inChannels: Int, outChannels: Int, stride: Int) -> Block {
        let projection = stride != 1 || inChannels != outChannels
        return .residual(
            body: [
                .layer("conv1", .conv2d(inChannels: inChannels, outChannels: outChannels, kernel: 3, stride: stride, padding: 1, bias: false)),
                .layer("bn1", .batchNorm2d(channels: outChannels)),
                .layer("relu", .activation(.relu)),
                .layer("conv2", .conv2d(inChannels: outChannels, outChannels: outChannels, kernel: 3, stride: 1, padding: 1, bias: false)),
                .layer("bn2", .batchNorm2d(channels: outChannels)),
            ],
            shortcut: projection ? NamedBlock("shortcut", .sequence([
                .layer("0", .conv2d(inChannels: inChannels, outChannels: outChannels, kernel: 1, stride: stride, padding: 0, bias: false)),
                .layer("1", .batchNorm2d(channels: outChannels)),
            ])) : nil,
            activation: .relu)
    }

    /// A small DenseNet-BC (Huang et al. 2017) for [C, H, W] images: conv(C→2k, 3×3), dense
    /// blocks of bottleneck layers [BN–ReLU–conv 1×1 (→4k)–BN–ReLU–conv 3×3 (→k), the output
    /// concatenated to the input], transitions [BN–ReLU–conv 1×1 (compressing the channels by
    /// `compression`)–avgpool 2] between blocks, then BN–ReLU–global average pool–(dropout)–
    /// dense(→classes). The defaults, three blocks of 6 layers with growth rate k = 12, are
    /// DenseNet-BC with depth 40 (6n + 4).
    ///
    /// Names follow torchvision's DenseNet ("features.conv0", "features.denseblock1.denselayer1.norm1",
    /// "features.transition1.conv", "features.norm5", "classifier").
    public static func densenet(inputShape: [Int] = [1, 28, 28], growthRate: Int = 12, layersPerBlock: [Int] = [6, 6, 6],
                                compression: Float = 0.5, outputs: Int = 10, dropout: Float = 0) throws -> ModelSpec {
        let poolings = layersPerBlock.count - 1
        guard inputShape.count == 3, inputShape[1] >> poolings >= 1, inputShape[2] >> poolings >= 1 else {
            throw ModelError.invalidSpecification("a DenseNet with \(layersPerBlock.count) blocks needs image inputs [C, H, W] with H, W ≥ \(1 << poolings); got \(inputShape)")
        }
        guard growthRate >= 1, !layersPerBlock.isEmpty, layersPerBlock.allSatisfy({ $0 >= 1 }), compression > 0, compression <= 1 else {
            throw ModelError.invalidSpecification("a DenseNet needs growth rate ≥ 1, ≥ 1 layer per block and compression in (0, 1]; got \(growthRate), \(layersPerBlock), \(compression)")
        }
        let k = growthRate
        var channels = 2 * k
        var features: [NamedBlock] = [
            .layer("conv0", .conv2d(inChannels: inputShape[0], outChannels: channels, kernel: 3, stride: 1, padding: 1, bias: false)),
        ]
        for (b, count) in layersPerBlock.enumerated() {
            let denseLayers = (1...count).map { l -> NamedBlock in
                defer { channels += k }
                return NamedBlock("denselayer\(l)", .concatenate(body: [
                    .layer("norm1", .batchNorm2d(channels: channels)), .layer("relu1", .activation(.relu)),
                    .layer("conv1", .conv2d(inChannels: channels, outChannels: 4 * k, kernel: 1, stride: 1, padding: 0, bias: false)),
                    .layer("norm2", .batchNorm2d(channels: 4 * k)), .layer("relu2", .activation(.relu)),
                    .layer("conv2", .conv2d(inChannels: 4 * k, outChannels: k, kernel: 3, stride: 1, padding: 1, bias: false)),
                ]))
            }
            features.append(NamedBlock("denseblock\(b + 1)", .sequence(denseLayers)))
            guard b < poolings else { break }
            let compressed = Swift.max(1, Int(Float(channels) * compression))
            features.append(NamedBlock("transition\(b + 1)", .sequence([
                .layer("norm", .batchNorm2d(channels: channels)), .layer("relu", .activation(.relu)),
                .layer("conv", .conv2d(inChannels: channels, outChannels: compressed, kernel: 1, stride: 1, padding: 0, bias: false)),
                .layer("pool", .avgPool2d(kernel: 2, stride: 2)),
            ])))
            channels = compressed
        }
        features.append(.layer("norm5", .batchNorm2d(channels: channels)))
        var blocks: [NamedBlock] = [NamedBlock("features", .sequence(features)), .layer("relu", .activation(.relu)),
                                    .layer("pool", .globalAveragePool)]
        if dropout > 0 { blocks.append(.layer("dropout", .dropout(rate: dropout))) }
        blocks.append(.layer("classifier", .dense(inputs: channels, outputs: outputs, bias: true)))
        return ModelSpec(inputShape: inputShape, blocks: blocks)
    }
}
