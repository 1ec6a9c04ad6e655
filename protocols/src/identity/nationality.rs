//! The nationality / region table (国家/地区): every ISO 3166-1 entry with
//! its numeric code (GB/T 2659 uses the same numbers), alpha-3 code, Chinese
//! short name and English short name.
//!
//! Permanent-residence numbers carry the numeric code (2023 layout) or the
//! alpha-3 code (2017 layout); forms show [`Nationality::display_label`]
//! under the column header "国家/地区". Hong Kong, Macao and Taiwan are
//! listed as 中国香港, 中国澳门, 中国台湾. This module is data and look-ups
//! only; which codes a number may carry is decided in [`super::gb11643`] and
//! [`super::permanent_2017`] through [`Nationality::is_foreign`].

use serde::Serialize;
use serde::ser::SerializeStruct;

/// One ISO 3166-1 country or region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nationality {
    /// ISO 3166-1 numeric code, e.g. 124 (printed with three digits: `124`, `004`).
    pub numeric: u16,
    /// ISO 3166-1 alpha-3 code, e.g. `CAN`.
    pub alpha3: &'static str,
    /// Chinese short name, e.g. 加拿大.
    pub name_zh: &'static str,
    /// English short name, e.g. Canada.
    pub name_en: &'static str,
}

impl Nationality {
    /// China (中国), the nationality of every resident-ID holder.
    pub const CHINA_NUMERIC: u16 = 156;

    /// The entry with this numeric code.
    pub fn by_numeric(numeric: u16) -> Option<&'static Nationality> {
        NATIONALITIES.iter().find(|n| n.numeric == numeric)
    }

    /// The entry with this alpha-3 code (case-insensitive).
    pub fn by_alpha3(alpha3: &str) -> Option<&'static Nationality> {
        NATIONALITIES
            .iter()
            .find(|n| n.alpha3.eq_ignore_ascii_case(alpha3))
    }

    /// The numeric code as printed in a number and on forms: three digits.
    pub fn numeric_code(&self) -> String {
        format!("{:03}", self.numeric)
    }

    /// The label shown under the "国家/地区" column, e.g. 加拿大, 中国香港.
    pub fn display_label(&self) -> &'static str {
        self.name_zh
    }

    /// Whether a holder of this nationality is a foreigner (外国人): false for
    /// China and for Hong Kong, Macao and Taiwan, whose residents are Chinese
    /// citizens. The one place that decides whether a number is a
    /// 外国人永久居留身份证.
    pub fn is_foreign(&self) -> bool {
        !matches!(self.alpha3, "CHN" | "HKG" | "MAC" | "TWN")
    }
}

impl Serialize for Nationality {
    /// `{"numeric": "124", "alpha3": "CAN", "name_zh": "加拿大", "name_en": "Canada"}`:
    /// the numeric code is a three-digit string, as printed in the number.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Nationality", 4)?;
        s.serialize_field("numeric", &self.numeric_code())?;
        s.serialize_field("alpha3", self.alpha3)?;
        s.serialize_field("name_zh", self.name_zh)?;
        s.serialize_field("name_en", self.name_en)?;
        s.end()
    }
}

/// Shorthand for the table rows below.
const fn n(
    numeric: u16,
    alpha3: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
) -> Nationality {
    Nationality {
        numeric,
        alpha3,
        name_zh,
        name_en,
    }
}

/// All 249 ISO 3166-1 entries, in order of English name.
#[rustfmt::skip]
pub static NATIONALITIES: &[Nationality] = &[
    n(4, "AFG", "阿富汗", "Afghanistan"),
    n(248, "ALA", "奥兰群岛", "Åland Islands"),
    n(8, "ALB", "阿尔巴尼亚", "Albania"),
    n(12, "DZA", "阿尔及利亚", "Algeria"),
    n(16, "ASM", "美属萨摩亚", "American Samoa"),
    n(20, "AND", "安道尔", "Andorra"),
    n(24, "AGO", "安哥拉", "Angola"),
    n(660, "AIA", "安圭拉", "Anguilla"),
    n(10, "ATA", "南极洲", "Antarctica"),
    n(28, "ATG", "安提瓜和巴布达", "Antigua and Barbuda"),
    n(32, "ARG", "阿根廷", "Argentina"),
    n(51, "ARM", "亚美尼亚", "Armenia"),
    n(533, "ABW", "阿鲁巴", "Aruba"),
    n(36, "AUS", "澳大利亚", "Australia"),
    n(40, "AUT", "奥地利", "Austria"),
    n(31, "AZE", "阿塞拜疆", "Azerbaijan"),
    n(44, "BHS", "巴哈马", "Bahamas"),
    n(48, "BHR", "巴林", "Bahrain"),
    n(50, "BGD", "孟加拉国", "Bangladesh"),
    n(52, "BRB", "巴巴多斯", "Barbados"),
    n(112, "BLR", "白俄罗斯", "Belarus"),
    n(56, "BEL", "比利时", "Belgium"),
    n(84, "BLZ", "伯利兹", "Belize"),
    n(204, "BEN", "贝宁", "Benin"),
    n(60, "BMU", "百慕大", "Bermuda"),
    n(64, "BTN", "不丹", "Bhutan"),
    n(68, "BOL", "玻利维亚", "Bolivia (Plurinational State of)"),
    n(535, "BES", "荷兰加勒比区", "Bonaire, Sint Eustatius and Saba"),
    n(70, "BIH", "波斯尼亚和黑塞哥维那", "Bosnia and Herzegovina"),
    n(72, "BWA", "博茨瓦纳", "Botswana"),
    n(74, "BVT", "布韦岛", "Bouvet Island"),
    n(76, "BRA", "巴西", "Brazil"),
    n(86, "IOT", "英属印度洋领地", "British Indian Ocean Territory"),
    n(96, "BRN", "文莱", "Brunei Darussalam"),
    n(100, "BGR", "保加利亚", "Bulgaria"),
    n(854, "BFA", "布基纳法索", "Burkina Faso"),
    n(108, "BDI", "布隆迪", "Burundi"),
    n(132, "CPV", "佛得角", "Cabo Verde"),
    n(116, "KHM", "柬埔寨", "Cambodia"),
    n(120, "CMR", "喀麦隆", "Cameroon"),
    n(124, "CAN", "加拿大", "Canada"),
    n(136, "CYM", "开曼群岛", "Cayman Islands"),
    n(140, "CAF", "中非", "Central African Republic"),
    n(148, "TCD", "乍得", "Chad"),
    n(152, "CHL", "智利", "Chile"),
    n(156, "CHN", "中国", "China"),
    n(162, "CXR", "圣诞岛", "Christmas Island"),
    n(166, "CCK", "科科斯（基林）群岛", "Cocos (Keeling) Islands"),
    n(170, "COL", "哥伦比亚", "Colombia"),
    n(174, "COM", "科摩罗", "Comoros"),
    n(178, "COG", "刚果（布）", "Congo"),
    n(180, "COD", "刚果（金）", "Congo, Democratic Republic of the"),
    n(184, "COK", "库克群岛", "Cook Islands"),
    n(188, "CRI", "哥斯达黎加", "Costa Rica"),
    n(384, "CIV", "科特迪瓦", "Côte d'Ivoire"),
    n(191, "HRV", "克罗地亚", "Croatia"),
    n(192, "CUB", "古巴", "Cuba"),
    n(531, "CUW", "库拉索", "Curaçao"),
    n(196, "CYP", "塞浦路斯", "Cyprus"),
    n(203, "CZE", "捷克", "Czechia"),
    n(208, "DNK", "丹麦", "Denmark"),
    n(262, "DJI", "吉布提", "Djibouti"),
    n(212, "DMA", "多米尼克", "Dominica"),
    n(214, "DOM", "多米尼加", "Dominican Republic"),
    n(218, "ECU", "厄瓜多尔", "Ecuador"),
    n(818, "EGY", "埃及", "Egypt"),
    n(222, "SLV", "萨尔瓦多", "El Salvador"),
    n(226, "GNQ", "赤道几内亚", "Equatorial Guinea"),
    n(232, "ERI", "厄立特里亚", "Eritrea"),
    n(233, "EST", "爱沙尼亚", "Estonia"),
    n(748, "SWZ", "斯威士兰", "Eswatini"),
    n(231, "ETH", "埃塞俄比亚", "Ethiopia"),
    n(238, "FLK", "福克兰群岛（马尔维纳斯）", "Falkland Islands (Malvinas)"),
    n(234, "FRO", "法罗群岛", "Faroe Islands"),
    n(242, "FJI", "斐济", "Fiji"),
    n(246, "FIN", "芬兰", "Finland"),
    n(250, "FRA", "法国", "France"),
    n(254, "GUF", "法属圭亚那", "French Guiana"),
    n(258, "PYF", "法属波利尼西亚", "French Polynesia"),
    n(260, "ATF", "法属南部领地", "French Southern Territories"),
    n(266, "GAB", "加蓬", "Gabon"),
    n(270, "GMB", "冈比亚", "Gambia"),
    n(268, "GEO", "格鲁吉亚", "Georgia"),
    n(276, "DEU", "德国", "Germany"),
    n(288, "GHA", "加纳", "Ghana"),
    n(292, "GIB", "直布罗陀", "Gibraltar"),
    n(300, "GRC", "希腊", "Greece"),
    n(304, "GRL", "格陵兰", "Greenland"),
    n(308, "GRD", "格林纳达", "Grenada"),
    n(312, "GLP", "瓜德罗普", "Guadeloupe"),
    n(316, "GUM", "关岛", "Guam"),
    n(320, "GTM", "危地马拉", "Guatemala"),
    n(831, "GGY", "根西", "Guernsey"),
    n(324, "GIN", "几内亚", "Guinea"),
    n(624, "GNB", "几内亚比绍", "Guinea-Bissau"),
    n(328, "GUY", "圭亚那", "Guyana"),
    n(332, "HTI", "海地", "Haiti"),
    n(334, "HMD", "赫德岛和麦克唐纳群岛", "Heard Island and McDonald Islands"),
    n(336, "VAT", "梵蒂冈", "Holy See"),
    n(340, "HND", "洪都拉斯", "Honduras"),
    n(344, "HKG", "中国香港", "Hong Kong"),
    n(348, "HUN", "匈牙利", "Hungary"),
    n(352, "ISL", "冰岛", "Iceland"),
    n(356, "IND", "印度", "India"),
    n(360, "IDN", "印度尼西亚", "Indonesia"),
    n(364, "IRN", "伊朗", "Iran (Islamic Republic of)"),
    n(368, "IRQ", "伊拉克", "Iraq"),
    n(372, "IRL", "爱尔兰", "Ireland"),
    n(833, "IMN", "马恩岛", "Isle of Man"),
    n(376, "ISR", "以色列", "Israel"),
    n(380, "ITA", "意大利", "Italy"),
    n(388, "JAM", "牙买加", "Jamaica"),
    n(392, "JPN", "日本", "Japan"),
    n(832, "JEY", "泽西", "Jersey"),
    n(400, "JOR", "约旦", "Jordan"),
    n(398, "KAZ", "哈萨克斯坦", "Kazakhstan"),
    n(404, "KEN", "肯尼亚", "Kenya"),
    n(296, "KIR", "基里巴斯", "Kiribati"),
    n(408, "PRK", "朝鲜", "Korea (Democratic People's Republic of)"),
    n(410, "KOR", "韩国", "Korea, Republic of"),
    n(414, "KWT", "科威特", "Kuwait"),
    n(417, "KGZ", "吉尔吉斯斯坦", "Kyrgyzstan"),
    n(418, "LAO", "老挝", "Lao People's Democratic Republic"),
    n(428, "LVA", "拉脱维亚", "Latvia"),
    n(422, "LBN", "黎巴嫩", "Lebanon"),
    n(426, "LSO", "莱索托", "Lesotho"),
    n(430, "LBR", "利比里亚", "Liberia"),
    n(434, "LBY", "利比亚", "Libya"),
    n(438, "LIE", "列支敦士登", "Liechtenstein"),
    n(440, "LTU", "立陶宛", "Lithuania"),
    n(442, "LUX", "卢森堡", "Luxembourg"),
    n(446, "MAC", "中国澳门", "Macao"),
    n(450, "MDG", "马达加斯加", "Madagascar"),
    n(454, "MWI", "马拉维", "Malawi"),
    n(458, "MYS", "马来西亚", "Malaysia"),
    n(462, "MDV", "马尔代夫", "Maldives"),
    n(466, "MLI", "马里", "Mali"),
    n(470, "MLT", "马耳他", "Malta"),
    n(584, "MHL", "马绍尔群岛", "Marshall Islands"),
    n(474, "MTQ", "马提尼克", "Martinique"),
    n(478, "MRT", "毛里塔尼亚", "Mauritania"),
    n(480, "MUS", "毛里求斯", "Mauritius"),
    n(175, "MYT", "马约特", "Mayotte"),
    n(484, "MEX", "墨西哥", "Mexico"),
    n(583, "FSM", "密克罗尼西亚联邦", "Micronesia (Federated States of)"),
    n(498, "MDA", "摩尔多瓦", "Moldova, Republic of"),
    n(492, "MCO", "摩纳哥", "Monaco"),
    n(496, "MNG", "蒙古", "Mongolia"),
    n(499, "MNE", "黑山", "Montenegro"),
    n(500, "MSR", "蒙特塞拉特", "Montserrat"),
    n(504, "MAR", "摩洛哥", "Morocco"),
    n(508, "MOZ", "莫桑比克", "Mozambique"),
    n(104, "MMR", "缅甸", "Myanmar"),
    n(516, "NAM", "纳米比亚", "Namibia"),
    n(520, "NRU", "瑙鲁", "Nauru"),
    n(524, "NPL", "尼泊尔", "Nepal"),
    n(528, "NLD", "荷兰", "Netherlands"),
    n(540, "NCL", "新喀里多尼亚", "New Caledonia"),
    n(554, "NZL", "新西兰", "New Zealand"),
    n(558, "NIC", "尼加拉瓜", "Nicaragua"),
    n(562, "NER", "尼日尔", "Niger"),
    n(566, "NGA", "尼日利亚", "Nigeria"),
    n(570, "NIU", "纽埃", "Niue"),
    n(574, "NFK", "诺福克岛", "Norfolk Island"),
    n(807, "MKD", "北马其顿", "North Macedonia"),
    n(580, "MNP", "北马里亚纳", "Northern Mariana Islands"),
    n(578, "NOR", "挪威", "Norway"),
    n(512, "OMN", "阿曼", "Oman"),
    n(586, "PAK", "巴基斯坦", "Pakistan"),
    n(585, "PLW", "帕劳", "Palau"),
    n(275, "PSE", "巴勒斯坦", "Palestine, State of"),
    n(591, "PAN", "巴拿马", "Panama"),
    n(598, "PNG", "巴布亚新几内亚", "Papua New Guinea"),
    n(600, "PRY", "巴拉圭", "Paraguay"),
    n(604, "PER", "秘鲁", "Peru"),
    n(608, "PHL", "菲律宾", "Philippines"),
    n(612, "PCN", "皮特凯恩", "Pitcairn"),
    n(616, "POL", "波兰", "Poland"),
    n(620, "PRT", "葡萄牙", "Portugal"),
    n(630, "PRI", "波多黎各", "Puerto Rico"),
    n(634, "QAT", "卡塔尔", "Qatar"),
    n(638, "REU", "留尼汪", "Réunion"),
    n(642, "ROU", "罗马尼亚", "Romania"),
    n(643, "RUS", "俄罗斯", "Russian Federation"),
    n(646, "RWA", "卢旺达", "Rwanda"),
    n(652, "BLM", "圣巴泰勒米", "Saint Barthélemy"),
    n(654, "SHN", "圣赫勒拿", "Saint Helena, Ascension and Tristan da Cunha"),
    n(659, "KNA", "圣基茨和尼维斯", "Saint Kitts and Nevis"),
    n(662, "LCA", "圣卢西亚", "Saint Lucia"),
    n(663, "MAF", "法属圣马丁", "Saint Martin (French part)"),
    n(666, "SPM", "圣皮埃尔和密克隆", "Saint Pierre and Miquelon"),
    n(670, "VCT", "圣文森特和格林纳丁斯", "Saint Vincent and the Grenadines"),
    n(882, "WSM", "萨摩亚", "Samoa"),
    n(674, "SMR", "圣马力诺", "San Marino"),
    n(678, "STP", "圣多美和普林西比", "Sao Tome and Principe"),
    n(682, "SAU", "沙特阿拉伯", "Saudi Arabia"),
    n(686, "SEN", "塞内加尔", "Senegal"),
    n(688, "SRB", "塞尔维亚", "Serbia"),
    n(690, "SYC", "塞舌尔", "Seychelles"),
    n(694, "SLE", "塞拉利昂", "Sierra Leone"),
    n(702, "SGP", "新加坡", "Singapore"),
    n(534, "SXM", "荷属圣马丁", "Sint Maarten (Dutch part)"),
    n(703, "SVK", "斯洛伐克", "Slovakia"),
    n(705, "SVN", "斯洛文尼亚", "Slovenia"),
    n(90, "SLB", "所罗门群岛", "Solomon Islands"),
    n(706, "SOM", "索马里", "Somalia"),
    n(710, "ZAF", "南非", "South Africa"),
    n(239, "SGS", "南乔治亚岛和南桑威奇群岛", "South Georgia and the South Sandwich Islands"),
    n(728, "SSD", "南苏丹", "South Sudan"),
    n(724, "ESP", "西班牙", "Spain"),
    n(144, "LKA", "斯里兰卡", "Sri Lanka"),
    n(729, "SDN", "苏丹", "Sudan"),
    n(740, "SUR", "苏里南", "Suriname"),
    n(744, "SJM", "斯瓦尔巴和扬马延", "Svalbard and Jan Mayen"),
    n(752, "SWE", "瑞典", "Sweden"),
    n(756, "CHE", "瑞士", "Switzerland"),
    n(760, "SYR", "叙利亚", "Syrian Arab Republic"),
    n(158, "TWN", "中国台湾", "Taiwan, Province of China"),
    n(762, "TJK", "塔吉克斯坦", "Tajikistan"),
    n(834, "TZA", "坦桑尼亚", "Tanzania, United Republic of"),
    n(764, "THA", "泰国", "Thailand"),
    n(626, "TLS", "东帝汶", "Timor-Leste"),
    n(768, "TGO", "多哥", "Togo"),
    n(772, "TKL", "托克劳", "Tokelau"),
    n(776, "TON", "汤加", "Tonga"),
    n(780, "TTO", "特立尼达和多巴哥", "Trinidad and Tobago"),
    n(788, "TUN", "突尼斯", "Tunisia"),
    n(792, "TUR", "土耳其", "Türkiye"),
    n(795, "TKM", "土库曼斯坦", "Turkmenistan"),
    n(796, "TCA", "特克斯和凯科斯群岛", "Turks and Caicos Islands"),
    n(798, "TUV", "图瓦卢", "Tuvalu"),
    n(800, "UGA", "乌干达", "Uganda"),
    n(804, "UKR", "乌克兰", "Ukraine"),
    n(784, "ARE", "阿联酋", "United Arab Emirates"),
    n(826, "GBR", "英国", "United Kingdom of Great Britain and Northern Ireland"),
    n(840, "USA", "美国", "United States of America"),
    n(581, "UMI", "美国本土外小岛屿", "United States Minor Outlying Islands"),
    n(858, "URY", "乌拉圭", "Uruguay"),
    n(860, "UZB", "乌兹别克斯坦", "Uzbekistan"),
    n(548, "VUT", "瓦努阿图", "Vanuatu"),
    n(862, "VEN", "委内瑞拉", "Venezuela (Bolivarian Republic of)"),
    n(704, "VNM", "越南", "Viet Nam"),
    n(92, "VGB", "英属维尔京群岛", "Virgin Islands (British)"),
    n(850, "VIR", "美属维尔京群岛", "Virgin Islands (U.S.)"),
    n(876, "WLF", "瓦利斯和富图纳", "Wallis and Futuna"),
    n(732, "ESH", "西撒哈拉", "Western Sahara"),
    n(887, "YEM", "也门", "Yemen"),
    n(894, "ZMB", "赞比亚", "Zambia"),
    n(716, "ZWE", "津巴布韦", "Zimbabwe"),
];
